"""``qianfa audit``: verify and anchor the signed chain, export records, apply retention."""

import sys
from datetime import date, datetime, time, timedelta

import click

from app.cli.base import CliError, operator, store
from app.core import anchors, audit, clock, validate
from app.core.redis import embedded_exists, uses_embedded
from app.core.settings import get_settings
from app.registry import platforms

WRITERS = {"jsonl": audit.write_jsonl, "csv": audit.write_csv}
# Excel only reads a UTF-8 CSV as UTF-8 (and so shows the Chinese) when it starts with a BOM.
FILE_ENCODINGS = {"jsonl": "utf-8", "csv": "utf-8-sig"}


@click.group("audit")
def audit_group():
    """审计记录:核验哈希链、导出记录、按保留期限清理。"""


@audit_group.command("verify")
def verify_command():
    """逐条核验审计链(签名、哈希、序号),并与最新锚点核对,指出第一条异常记录。"""
    settings = get_settings()
    last = anchors.newest(settings.audit_anchor_file)
    r = _existing_store(settings)
    if (r is None or audit.empty(r)) and last is None:
        raise CliError("没有任何审计记录,也没有锚点:无从核验(Redis 是否配置正确?)")
    if r is None:
        raise CliError(
            "找不到审计数据(内置 Redis 数据库不存在),"
            f"而锚点({clock.beijing(last.at)})记到第 {last.seq} 条:"
            "审计链被清空"
        )
    result = audit.verify(r, anchor=last)
    if not result.ok:
        raise CliError(anchors.describe(result))
    click.echo(f"审计链完整:共核验 {result.checked} 条记录。")
    for line in _notes(result, last, settings):
        click.echo(line)
    seq, digest = audit.head(r)
    if seq:
        click.echo(f"链头:第 {seq} 条,哈希 {digest}")


def _existing_store(settings):
    """The Redis holding the chain, or None when only an empty embedded one could be started."""
    if not uses_embedded(settings) or embedded_exists(settings.instance_dir):
        return store()
    return None


def _notes(result: audit.Verification, last, settings) -> list[str]:
    notes = []
    if last is None:
        notes.append(
            "尚无锚点:末尾记录被删除或整条链被清空将无从发现;"
            f"请运行 qianfa audit anchor(调度进程每 {settings.audit_anchor_interval} 秒自动写入)。"
        )
    else:
        notes.append(f"与最新锚点相符:第 {last.seq} 条({clock.beijing(last.at)})。")
    if not result.signed:
        notes.append("注意:这些记录写于审计签名启用之前,未签名;下一条记录写入后即受签名保护。")
    return notes


@audit_group.command("anchor")
def anchor_command():
    """核验最新锚点之后的记录,并把当前链头写入锚点文件(签名,存于 Redis 之外)。"""
    path = get_settings().audit_anchor_file
    made = anchors.anchor(store(), path)
    if made is None:
        click.echo("审计链为空:没有可锚定的记录。")
        return
    click.echo(f"锚点:第 {made.seq} 条,哈希 {made.hash}({clock.beijing(made.at)}),已记于 {path}")


@audit_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(WRITERS), case_sensitive=False),
    default="jsonl",
    show_default=True,
    help="导出格式。",
)
@click.option("--platform", help="只导出该平台的记录(平台标识)。")
@click.option("--person", help="只导出该人员所做的操作(人员编号,如 P3)。")
@click.option("--draft", help="只导出该稿件的记录(稿件编号,如 D42)。")
@click.option("--action", help="只导出该类操作(如 draft.approve)。")
@click.option("--since", help="起始时间(含):ISO 日期或时间,如 2026-11-01;未写时区按北京时间。")
@click.option("--until", help="截止时间(不含);只写日期时含当天整天。")
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="写入文件;默认输出到标准输出。"
)
def export_command(fmt, platform, person, draft, action, since, until, out):
    """导出审计记录(JSONL 或 CSV),可按平台、人员、稿件、操作与时间筛选。

    记录写到标准输出或 --out 文件,导出条数写到标准错误。
    """
    filters = {
        "platform": platform_id(platform),
        "person": short_id(person, "P", "人员"),
        "draft": short_id(draft, "D", "稿件"),
        "action": action_name(action),
        **time_range(since, until),
    }
    count = _write(audit.records(store(), **filters), fmt.lower(), out)
    click.echo(f"已导出 {count} 条审计记录。", err=True)


def _write(rows, fmt: str, out: str | None) -> int:
    if out is None:
        return WRITERS[fmt](rows, sys.stdout)
    with open(out, "w", encoding=FILE_ENCODINGS[fmt], newline="") as file:
        return WRITERS[fmt](rows, file)


@audit_group.command("trim")
def trim_command():
    """按保留期限(QIANFA_AUDIT_RETENTION_DAYS)删除过期的审计记录;清理本身也记入审计。"""
    days = get_settings().audit_retention_days
    if days <= 0:
        click.echo("未设置保留期限(QIANFA_AUDIT_RETENTION_DAYS 为 0):保留全部记录,未删除任何记录。")
        return
    removed = audit.trim(store(), operator(), days)
    click.echo(f"保留期限 {days} 天:已删除 {removed} 条更早的审计记录。")


def short_id(raw: str | None, prefix: str, label: str) -> str | None:
    return None if raw is None else validate.short_id(raw, prefix, label)


def platform_id(raw: str | None) -> str | None:
    return None if raw is None else platforms.platform_id(raw)


def action_name(raw: str | None) -> str | None:
    return None if raw is None else validate.normalize(raw).lower()


def time_range(since: str | None, until: str | None) -> dict[str, datetime | None]:
    """Parse ``--since``/``--until`` into the half-open range that ``audit.records`` takes."""
    start, end = parse_time(since, "--since"), parse_time(until, "--until", end_of_day=True)
    if start and end and start >= end:
        raise CliError(f"--since({since})应早于 --until({until})")
    return {"since": start, "until": end}


def parse_time(raw: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """Read an ISO date or time, as China time (UTC+8) unless it names a zone.

    A bare date as ``--until`` means the end of that day, so ``--until 2026-11-30``
    includes the 30th, as a person reading it expects.
    """
    if raw is None:
        return None
    text = validate.normalize(raw)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        start = datetime.combine(day, time(), validate.CHINA_TIME)
        return start + timedelta(days=1 if end_of_day else 0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option} 的时间格式不对:{raw!r};应为 ISO 日期或时间,"
            "如 2026-11-01 或 2026-11-01T08:00:00(未写时区按北京时间)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=validate.CHINA_TIME)


def register(cli: click.Group) -> None:
    cli.add_command(audit_group)
