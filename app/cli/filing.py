"""Filing forms from the shell (art. 6): open, sign step by step, show and print.

The same domain calls as the console's filing pages; the last agreeing opinion is the
only way a platform in filing starts to run.
"""

import click

from app.cli.base import operator, store
from app.registry import filings


@click.group("filing")
def filing_group():
    """备案审批表(第六条及附件):发起、逐步登记意见、查看、打印。"""


@filing_group.command("open")
@click.argument("platform_id")
@click.option("--other-media", default="", help="其他媒体名称")
def filing_open(platform_id, other_media):
    """发起平台的备案审批表:新平台为新开设,运行中的平台为变更备案。"""
    f = filings.open_form(store(), operator(), platform_id, other_media=other_media)
    click.echo(f"已发起备案表 {f.id}({filings.KINDS[f.kind]}),平台 {f.platform}")
    click.echo(f"下一步:{f.next_step.label}(qianfa filing sign {f.id} {f.next_step.name} …)")


@filing_group.command("sign")
@click.argument("filing_id")
@click.argument("step", type=click.Choice([s.name for s in filings.STEPS]))
@click.option("--decision", required=True, help="agree 同意 或 disagree 不同意")
@click.option("--opinion", required=True, help="意见")
@click.option("--signer", required=True, help="签字人")
@click.option("--signed-on", required=True, help="签字日期 YYYY-MM-DD")
def filing_sign(filing_id, step, **fields):
    """登记下一步审批意见;须按附件顺序,最后一步同意后平台开始运行。"""
    f = filings.sign_step(store(), operator(), filing_id, step, fields)
    click.echo(f"备案表 {f.id}:已登记「{filings.STEPS[len(f.steps) - 1].label}」")
    click.echo(_progress(f))


@filing_group.command("confirm-office")
@click.argument("filing_id")
@click.option("--note", default="", help="确认说明,如核实的情况")
def filing_confirm_office(filing_id, note):
    """确认备案表上第一责任人职务与规定不符的提示(第十二、十三条);宣传部同意前须确认。"""
    f = filings.confirm_office(store(), operator(), filing_id, note)
    click.echo(f"备案表 {f.id}:已确认职务提示")


@filing_group.command("list")
@click.argument("platform_id")
def filing_list(platform_id):
    """列出平台的备案表,新的在前。"""
    for f in filings.of_platform(store(), platform_id):
        click.echo(f"{f.id}\t{filings.KINDS[f.kind]}\t{filings.STATUSES[f.status]}\t{f.opened_at}")


@filing_group.command("show")
@click.argument("filing_id")
def filing_show(filing_id):
    """显示备案表的状态和已登记的意见。"""
    f = filings.get(store(), filing_id)
    click.echo(f"{f.id} 平台 {f.platform} · {filings.KINDS[f.kind]} · {f.opened_at}")
    for line in _steps(f):
        click.echo(line)
    click.echo(_progress(f))


@filing_group.command("print")
@click.argument("filing_id")
def filing_print(filing_id):
    """以纯文本打印完整的审批表(一式两份)。"""
    f = filings.get(store(), filing_id)
    form = f.form
    click.echo(f"官方网络公众平台开设审批表  {f.id}({filings.KINDS[f.kind]})")
    for warning in form.get("warnings", []):
        click.echo(f"提示:{warning}")
    if form.get("office_confirmed"):
        click.echo(f"党委宣传部已确认上述提示({form['office_confirmed']['at'][:10]})")
    click.echo(f"申请单位:{form['unit']}")
    click.echo(f"平台名称:{form['platform_name']}  平台类型:{form['platform_kind']}")
    click.echo(f"微信/微博号:{form['account'] or '-'}  其他媒体名称:{form['other_media'] or '-'}")
    click.echo(f"用途及发布范围:{form['purpose'] or '-'}")
    for a in form["admins"]:
        click.echo(
            f"管理员:{a['name']} {a['title']}  电话 {a['phone'] or '-'}  QQ {a['qq'] or '-'}"
        )
    boss = form["responsible"]
    click.echo(
        f"第一责任人:{boss['name']}  电话 {boss['phone'] or '-'}  E-mail {boss['email'] or '-'}"
    )
    for line in _steps(f, blank="意见:________  签字:________  日期:____年__月__日"):
        click.echo(line)


def _steps(f: filings.Filing, blank: str = "待签署") -> list[str]:
    lines = []
    for n, step in enumerate(filings.STEPS):
        if n < len(f.steps):
            given = f.steps[n]
            said = f"{filings.DECISIONS[given['decision']]}:{given['opinion']}"
            lines.append(
                f"{n + 1}. {step.label}:{said}  签字 {given['signer']}  {given['signed_on']}"
            )
        else:
            lines.append(f"{n + 1}. {step.label}:{blank}")
    return lines


def _progress(f: filings.Filing) -> str:
    if f.next_step:
        return f"状态:{filings.STATUSES[f.status]};下一步:{f.next_step.label}({f.next_step.name})"
    return f"状态:{filings.STATUSES[f.status]}"


def register(cli: click.Group) -> None:
    cli.add_command(filing_group)
