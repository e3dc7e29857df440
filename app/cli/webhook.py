"""``qianfa webhook``: the message mode, what followers who are not staff get, the refusals."""

import sys

import click

from app.cli.base import operator, store
from app.core import masterkey
from app.core.settings import get_settings
from app.monitoring import replies
from app.registry import platforms
from app.webhook import config, modes, refusals


@click.group("webhook")
def group() -> None:
    """公众号回调:消息模式、非工作人员的默认回复、转发到原服务器、拒绝计数。"""


@group.command("set")
@click.argument("platform")
@click.option("--default-reply", default=None, help="非工作人员消息的默认回复;空字符串表示清除。")
@click.option("--forward-url", default=None, help="原回调地址(http/https);空字符串表示停止转发。")
@click.option(
    "--forward-token-stdin",
    is_flag=True,
    help="从标准输入第一行读取原服务器自己的 Token(设置转发地址时必需,不能与本平台 Token 相同)。",
)
@click.option(
    "--mode",
    type=click.Choice(list(modes.MODES)),
    default=None,
    help="公众平台「消息加解密方式」的设置:safe 安全模式(默认)、compatible 兼容、plaintext 明文。",
)
def set_command(platform, default_reply, forward_url, forward_token_stdin, mode) -> None:
    """设置平台 PLATFORM 的回调选项,每项变更都记入审计。"""
    token = sys.stdin.readline().rstrip("\r\n") if forward_token_stdin else None
    keyring = masterkey.load_keyring(get_settings())
    shown = config.configure(
        store(),
        keyring,
        operator(),
        platform,
        default_reply=default_reply,
        forward=forward_url,
        forward_token=token,
        mode=mode,
    )
    click.echo(f"已更新平台 {shown.platform} 的回调设置。")
    if default_reply:
        click.echo("新的默认回复须经平台第一责任人审核(「同意回复」)后才启用,此前仍用原回复。")
    _print(shown)


@group.command("show")
@click.argument("platform", required=False)
def show_command(platform) -> None:
    """显示回调设置和被拒绝的回调次数(不指定平台则列出全部)。"""
    r = store()
    ids = (
        [platforms.get(r, platform).id] if platform else [p.id for p in platforms.all_platforms(r)]
    )
    counted = refusals.all_counts(r, ids)
    for pid in ids:
        _print(config.get(r, pid))
        proposal = replies.pending(r, pid)
        if proposal:
            click.echo(f"  待审核的默认回复({proposal.digest}):{proposal.text}")
        _print_counts(counted.get(pid, {}))
    if not platform and refusals.UNKNOWN in counted:
        click.echo("不存在的平台:")
        _print_counts(counted[refusals.UNKNOWN])


def _print(shown: config.WebhookConfig) -> None:
    click.echo(f"{shown.platform}  回调地址 /wechat/{shown.platform}")
    click.echo(f"  消息模式:{modes.MODES.get(shown.mode, shown.mode)}({shown.mode})")
    if shown.mode not in modes.AUTHENTICATED:
        click.echo("    明文模式下只接受只读命令;请在公众平台改为安全模式后用 --mode safe 同步。")
    click.echo(f"  默认回复:{shown.default_reply or '(无,回复 success)'}")
    token = "原服务器 Token 已设置" if shown.forward_token_set else "未设置原服务器 Token,不转发"
    click.echo(
        f"  转发地址:{shown.forward_url + '(' + token + ')' if shown.forward_url else '(不转发)'}"
    )


def _print_counts(counts: dict[str, int]) -> None:
    if not counts:
        click.echo("  被拒绝的回调:0")
        return
    detail = "、".join(f"{code} {n}" for code, n in sorted(counts.items()))
    click.echo(f"  被拒绝的回调:{sum(counts.values())}({detail})")


def register(cli: click.Group) -> None:
    cli.add_command(group)
