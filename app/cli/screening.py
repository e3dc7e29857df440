"""``qianfa screening``: check the lexicons, try a text, read a draft's screening result,
release one, and keep the lists (import, export, add, remove, history) through ``lexicon_store``."""

from pathlib import Path

import click

from app import screening
from app.cli.base import CliError, operator, store
from app.drafts import release
from app.screening import lexicon_store
from app.screening.textfiles import MAX_IMPORT_BYTES


@click.group("screening")
def screening_group():
    """内容检查:核对和维护词库、试检查一段文字、查看稿件的检查结果、放行误拦的稿件。"""


@screening_group.command("check")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), help="词库目录;默认为配置的目录。"
)
def check_command(directory):
    """列出词库版本、各类别的词数和处理方式,以及被跳过的行。"""
    rules = screening.rules(Path(directory) if directory else None)
    click.echo(f"词库版本:{rules.version}")
    for cid, category in screening.CATEGORIES.items():
        terms, allowed = len(rules.terms(cid)), len(rules.terms(cid, allow=True))
        verdict = screening.VERDICTS[rules.verdict(cid)]
        click.echo(f"  {cid:20} {category.name_zh}:{terms} 词,白名单 {allowed} 条,{verdict}")
    for cid, kind in screening.CORRECTIONS.items():
        click.echo(f"  {cid:20} {kind.name_zh}:{screening.VERDICTS[rules.verdict(cid)]}")
    click.echo(f"规范表述与领导名单:共 {rules.corrections} 条")
    for problem in rules.problems:
        click.echo(f"注意:{problem}")
    if rules.problems:
        raise CliError(f"词库有 {len(rules.problems)} 处问题(已跳过,其余词条照常使用)")


@screening_group.command("try")
@click.argument("text", required=False)
@click.option("--file", "path", type=click.File("rb"), help="从文件读取(UTF-8);- 为标准输入。")
def try_command(text, path):
    """检查一段文字(不保存),逐条列出命中的位置。"""
    if (text is None) == (path is None):
        raise CliError("请给出要检查的文字,或用 --file 指定文件")
    found = screening.screen_text(path.read() if path else text)
    _show(found)


@screening_group.command("result")
@click.argument("draft")
@click.option("--version", type=int, help="版本号;默认为当前版本。")
def result_command(draft, version):
    """查看稿件某一版本保存的检查结果。"""
    found = screening.result_for(store(), draft, version)
    if found is None:
        raise CliError(f"稿件 {draft} 的这一版本还没有检查结果(提交审核时检查)")
    _show(found)


@screening_group.command("release")
@click.argument("draft")
@click.option("--reason", required=True, help="放行理由")
@click.option("--whitelist", is_flag=True, help="同时把每处命中连同前后文字加入该类别的白名单。")
def release_command(draft, reason, whitelist):
    """放行被拦截的稿件(经核实为误报):送审,命中标为已放行。"""
    done = release.release(store(), operator(), draft, reason, whitelist=whitelist)
    added = "被拦截的短语已加入白名单。" if whitelist else ""
    click.echo(f"已放行稿件 {done.id} 并送审。{added}")


def _show(found: screening.Screening) -> None:
    click.echo(found.summary_zh())
    for note in found.notes:
        click.echo(f"注意:{note}")
    for hit in found.hits:
        where = f"{hit.field}[{hit.start}:{hit.end}]"
        click.echo(f"  {screening.VERDICTS[hit.verdict]:8} {hit.category_zh}:{hit.shown} {where}")
    if found.truncated:
        click.echo(f"  (只列出前 {len(found.hits)} 处)")


LIST = click.argument("name", metavar="词库")
ALLOW = click.option("--allow", is_flag=True, help="白名单(仅类别词库)。")


@screening_group.command("import")
@LIST
@click.argument("path", metavar="文件", type=click.Path(dir_okay=False))
@ALLOW
@click.option(
    "--replace", is_flag=True, help="替换整个列表(默认只添加新条目;领导名单总是整表替换)。"
)
def import_command(name, path, allow, replace):
    """导入词库文件(UTF-8、GBK 或 GB18030):类别名、规范表述种类或 leaders。"""
    target = lexicon_store.target(name, allow=allow)
    with open(path, "rb") as file:
        data = file.read(MAX_IMPORT_BYTES + 1)
    change = lexicon_store.import_file(store(), operator(), target, data, path, replace=replace)
    for skipped in change.skipped:
        click.echo(f"注意:{skipped}")
    click.echo(f"{change.summary_zh()}(文件编码 {change.encoding})")


@screening_group.command("export")
@LIST
@ALLOW
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="写入文件;默认为标准输出。")
def export_command(name, allow, output):
    """导出词库文件(UTF-8)。"""
    data = lexicon_store.export(lexicon_store.target(name, allow=allow))
    if output:
        with open(output, "wb") as file:
            file.write(data)
    else:
        click.echo(data, nl=False)


@screening_group.command("add")
@LIST
@click.argument("entries", metavar="条目...", nargs=-1, required=True)
@ALLOW
def add_command(name, entries, allow):
    """向词库添加条目(规范表述和领导名单为整行)。"""
    target = lexicon_store.target(name, allow=allow)
    click.echo(lexicon_store.edit(store(), operator(), target, add=entries).summary_zh())


@screening_group.command("remove")
@LIST
@click.argument("entries", metavar="条目...", nargs=-1, required=True)
@ALLOW
def remove_command(name, entries, allow):
    """从词库删除条目(规范表述按错误表述,领导名单按姓名)。"""
    target = lexicon_store.target(name, allow=allow)
    click.echo(lexicon_store.edit(store(), operator(), target, remove=entries).summary_zh())


@screening_group.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, help="显示条数。")
def history_command(limit):
    """列出通过签发修改词库形成的版本:版本、时间、修改人、修改内容。"""
    for v in lexicon_store.history(store(), limit):
        who = v["person"] or f"命令行 {v['operator']}"
        click.echo(
            f"{v['version']}  {v['at']}  {who}  {v['title']}  {v['action']}"
            f"  新增 {v['added_count']} 条,删除 {v['removed_count']} 条"
        )


def register(cli: click.Group) -> None:
    cli.add_command(screening_group)
