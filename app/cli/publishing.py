"""``qianfa publish`` and ``qianfa platform preview-setting``: publications from the shell."""

import click

from app.cli import registry
from app.cli.base import CliError, operator, store
from app.publishing import record as pubs
from app.publishing import schedule as publishing

SWITCH = {"on": True, "off": False}


@click.command("preview-setting")
@click.argument("platform_id")
@click.argument("setting", type=click.Choice(list(SWITCH)))
def preview_setting(platform_id, setting):
    """开启(on)或关闭(off)审核前的群发预览:审核人可在微信中先看到真实效果。"""
    publishing.set_preview(store(), operator(), platform_id, SWITCH[setting])
    click.echo(f"平台 {platform_id} 的群发预览已{'开启' if SWITCH[setting] else '关闭'}")


@click.group("publish")
def publish_group():
    """发布:查看发布进度、安排已通过的稿件发布、找回中断的发布。"""


@publish_group.command("schedule")
@click.argument("draft_id")
def schedule(draft_id):
    """安排一篇已通过的稿件发布(按其定时,未定时则立即);重复执行不会重复发布。"""
    pub = publishing.schedule(store(), draft_id)
    if pub is None:
        raise CliError(f"稿件 {draft_id} 不是「已通过」,不能安排发布")
    click.echo(f"稿件 {pub.draft} 第 {pub.version} 版:{pubs.STEPS[pub.step]}")


@publish_group.command("show")
@click.argument("draft_id")
def show(draft_id):
    """显示稿件当前版本的发布进度与微信返回的编号。"""
    pub = publishing.publication_of(store(), draft_id)
    if pub is None:
        raise CliError(f"稿件 {draft_id} 的当前版本还没有发布记录")
    click.echo(f"稿件 {pub.draft} 第 {pub.version} 版(第 {pub.round} 轮):{pubs.STEPS[pub.step]}")
    for label, value in (
        ("publish_id", pub.publish_id),
        ("msg_id", pub.msg_id),
        ("文章链接", pub.article_url),
        ("原因", pub.reason),
    ):
        if value:
            click.echo(f"{label}:{value}")


@publish_group.command("sweep")
def sweep():
    """把任务丢失(如工作进程被杀)且已到期的发布重新排队;可由 cron 每分钟执行。"""
    resumed = publishing.sweep(store())
    click.echo(f"重新排队 {len(resumed)} 项发布" + (f":{'、'.join(resumed)}" if resumed else ""))


def register(cli: click.Group) -> None:
    registry.platform_group.add_command(preview_setting)
    cli.add_command(publish_group)
