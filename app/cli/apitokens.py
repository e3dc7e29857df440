"""``qianfa api-token``: issue, list and revoke the API tokens editors' CMSs submit with."""

import click

from app.channels import apitokens
from app.cli.base import operator, store
from app.core import clock


@click.group("api-token")
def api_token_group():
    """投稿 API 的令牌:每个令牌代表一名管理员,只能用于指定的平台。"""


@api_token_group.command("issue")
@click.argument("person_id")
@click.option(
    "--platform", "platform_ids", multiple=True, required=True, help="可用平台标识,可多次给出"
)
@click.option("--label", default="", help="备注,如使用它的系统名称")
def issue(person_id, platform_ids, label):
    """为一名管理员签发 API 令牌;令牌只显示这一次。"""
    token, secret = apitokens.issue(store(), operator(), person_id, platform_ids, label=label)
    click.echo(f"已签发 API 令牌 {token.id}:{token.person} @ {'、'.join(token.platforms)}")
    click.echo(f"令牌:{secret}")
    click.echo("令牌只显示这一次(系统只保存其哈希);请交给本人妥善保管,泄露时立即吊销。")


@api_token_group.command("list")
@click.argument("person_id", required=False)
def list_tokens(person_id):
    """列出 API 令牌(不含令牌本身),可只列一名人员的。"""
    found = apitokens.list_tokens(store(), person_id)
    for t in found:
        state = f"已吊销 {clock.beijing(t.revoked_at)}" if t.revoked_at else "有效"
        used = clock.beijing(t.last_used_at) or "从未使用"
        click.echo(
            f"{t.id}\t{t.person}\t{','.join(t.platforms)}\t{state}\t"
            f"签发 {clock.beijing(t.created_at)}\t最近使用 {used}\t{t.label}".rstrip()
        )
    if not found:
        click.echo("没有 API 令牌")


@api_token_group.command("revoke")
@click.argument("token_id")
@click.option("--reason", default="", help="吊销原因")
def revoke(token_id, reason):
    """立即吊销一个 API 令牌。"""
    token = apitokens.revoke(store(), operator(), token_id, reason)
    click.echo(f"已吊销 API 令牌 {token.id}({token.person})")


def register(cli: click.Group) -> None:
    cli.add_command(api_token_group)
