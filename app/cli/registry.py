"""Commands for the registry: units, people, roles, platforms, bind codes and bindings, drafts."""

import click

from app.cli.base import operator, store
from app.core import alertstate, clock, masterkey
from app.core.settings import get_settings
from app.drafts import lifecycle, review, suspension
from app.monitoring import inventory, reconcile
from app.notify import deliver
from app.registry import access, bindcodes, filings, owners, people, platforms, sites, units


@click.group("unit")
def unit_group():
    """单位(二级学院、部门、团学组织、社团……)。"""


@unit_group.command("create")
@click.argument("name")
@click.option("--kind", required=True, help="类型:" + "、".join(units.KINDS))
def unit_create(name, kind):
    """登记一个单位。"""
    unit = units.create(store(), operator(), name, kind)
    click.echo(f"已登记单位 {unit.id}:{unit.name}({unit.kind_label})")


@unit_group.command("list")
def unit_list():
    """列出全部单位。"""
    for unit in units.all_units(store()):
        click.echo(f"{unit.id}\t{unit.name}\t{unit.kind_label}")


@click.group("person")
def person_group():
    """人员。"""


@person_group.command("create")
@click.argument("name")
@click.option("--title", default="", help="职务")
@click.option("--phone", default="", help="联系电话")
@click.option("--email", default="", help="E-mail")
@click.option("--qq", default="", help="QQ 号")
@click.option("--unit", default="", help="所属单位编号,如 U1")
def person_create(name, **fields):
    """登记一名人员。"""
    person = people.create(store(), operator(), name, **fields)
    click.echo(f"已登记人员 {person.id}:{person.name}")


@person_group.command("list")
def person_list():
    """列出全部人员及其角色。"""
    r = store()
    for person in people.all_people(r):
        click.echo(f"{person.id}\t{person.name}\t{_roles_text(people.grants(r, person.id))}")


@person_group.command("show")
@click.argument("person_id")
def person_show(person_id):
    """显示一名人员的资料、角色和微信绑定。"""
    r = store()
    person = people.get(r, person_id)
    click.echo(f"{person.id} {person.name} {person.title}".rstrip())
    click.echo(f"电话:{person.phone or '-'}  E-mail:{person.email or '-'}  QQ:{person.qq or '-'}")
    click.echo(f"角色:{_roles_text(people.grants(r, person.id))}")
    for platform_id, openid in bindcodes.bindings_of(r, person.id):
        click.echo(f"已绑定:{platform_id}  {openid}")


def _roles_text(grants: set[str]) -> str:
    shown = []
    for grant in sorted(grants):
        role, _, platform_id = grant.partition("@")
        shown.append(f"{access.ROLES[role]}@{platform_id}" if platform_id else access.ROLES[role])
    return "、".join(shown) or "无"


@click.group("role")
def role_group():
    """全校角色:宣传部审核人(propaganda)、领导小组成员(leading_group)。"""


@role_group.command("grant")
@click.argument("person_id")
@click.argument("role")
def role_grant(person_id, role):
    """授予全校角色。平台的管理员和第一责任人请用 platform 命令设置。"""
    person = people.grant_college_role(store(), operator(), person_id, role)
    click.echo(f"已授予 {person.name}({person.id}):{access.ROLES[people.college_role(role)]}")


@role_group.command("revoke")
@click.argument("person_id")
@click.argument("role")
def role_revoke(person_id, role):
    """收回全校角色。"""
    person = people.revoke_college_role(store(), operator(), person_id, role)
    click.echo(f"已收回 {person.name}({person.id})的{access.ROLES[people.college_role(role)]}角色")


@click.group("platform")
def platform_group():
    """平台登记、状态与负责人(第四、六、十二、十三、十七条)。"""


@platform_group.command("create")
@click.argument("platform_id")
@click.option("--name", required=True, help="平台名称")
@click.option("--kind", required=True, help="类型:" + "、".join(platforms.KINDS))
@click.option("--tier", required=True, help="级别 1、2、3(第十二条)")
@click.option("--unit", required=True, help="主办单位编号")
@click.option("--supervising-unit", required=True, help="主管单位编号")
@click.option("--responsible", required=True, help="第一责任人编号")
@click.option("--admin", "admins", multiple=True, required=True, help="管理员编号,可多次给出")
@click.option("--appid", default="", help="微信公众号 AppID")
@click.option("--account", default="", help="微信/微博号")
@click.option("--purpose", default="", help="用途及信息发布范围")
def platform_create(platform_id, **fields):
    """登记新平台;备案审批完成前为「备案中」。"""
    platform = platforms.create(store(), operator(), platform_id, **fields)
    click.echo(f"已登记平台 {platform.id}:{platform.name}({platforms.STATUSES[platform.status]})")


@platform_group.command("list")
def platform_list():
    """列出全部平台。"""
    for p in platforms.all_platforms(store()):
        label = platforms.STATUSES[p.status]
        click.echo(f"{p.id}\t{p.name}\t{platforms.TIERS[p.tier]}\t{label}\t负责人 {p.responsible}")


@platform_group.command("show")
@click.argument("platform_id")
def platform_show(platform_id):
    """显示平台资料和备案记录。"""
    r = store()
    p = platforms.get(r, platform_id)
    click.echo(f"{p.id} {p.name}({platforms.KINDS[p.kind]},{platforms.TIERS[p.tier]})")
    click.echo(f"状态:{platforms.STATUSES[p.status]}({p.status_reason})")
    click.echo(f"主办单位:{p.unit}  主管单位:{p.supervising_unit}  AppID:{p.appid or '-'}")
    click.echo(f"第一责任人:{p.responsible}  管理员:{'、'.join(sorted(p.admins))}")
    pending = filings.pending_owners(r, p.id)
    if pending:
        admins = "、".join(pending["admins"])
        click.echo(f"待生效变更:第一责任人 {pending['responsible']}  管理员 {admins}(第六条)")
    for f in filings.of_platform(r, p.id):
        opened = clock.beijing(f.opened_at)
        click.echo(f"备案表 {f.id}:{filings.KINDS[f.kind]} {opened} {filings.STATUSES[f.status]}")


@platform_group.command("status")
@click.argument("platform_id")
@click.argument("status")
@click.option("--reason", required=True, help="原因(必填)")
def platform_status(platform_id, status, reason):
    """改变平台状态:suspended 停用、active 恢复运行、closed 关闭(第十七条)。

    停用时已通过未发布的稿件暂停发布;恢复运行后须重新审核;关闭时撤回全部未发布的稿件。
    """
    p, moved = suspension.change_status(store(), operator(), platform_id, status, reason)
    click.echo(f"平台 {p.id} 已改为「{platforms.STATUSES[p.status]}」")
    for draft in moved:
        click.echo(f"稿件 {draft.id}:{lifecycle.STATUSES[draft.status]}")


@platform_group.command("set-responsible")
@click.argument("platform_id")
@click.argument("person_id")
@click.option("--reason", required=True, help="原因(必填)")
def platform_set_responsible(platform_id, person_id, reason):
    """更换第一责任人;运行中的平台须经变更备案审批完成后生效(第六条)。"""
    _report(owners.set_responsible(store(), operator(), platform_id, person_id, reason))


@platform_group.command("add-admin")
@click.argument("platform_id")
@click.argument("person_id")
@click.option("--reason", required=True, help="原因(必填)")
def platform_add_admin(platform_id, person_id, reason):
    """增加管理员;运行中的平台须经变更备案审批完成后生效(第六条)。"""
    _report(owners.add_admin(store(), operator(), platform_id, person_id, reason))


@platform_group.command("remove-admin")
@click.argument("platform_id")
@click.argument("person_id")
@click.option("--reason", required=True, help="原因(必填)")
def platform_remove_admin(platform_id, person_id, reason):
    """移除管理员(至少保留一名);运行中的平台须经变更备案审批完成后生效。"""
    _report(owners.remove_admin(store(), operator(), platform_id, person_id, reason))


def _report(change: owners.OwnerChange) -> None:
    p = change.platform
    if change.filing:
        click.echo(f"变更已附在变更备案表 {change.filing.id} 上,审批完成后生效(第六条)")
        click.echo(
            f"在此之前仍由第一责任人 {p.responsible}、管理员 {'、'.join(sorted(p.admins))} 负责"
        )
        return
    click.echo(f"平台 {p.id}:第一责任人 {p.responsible},管理员 {'、'.join(sorted(p.admins))}")


@platform_group.command("notify-template")
@click.argument("platform_id")
@click.argument("template_id", required=False, default="")
def platform_notify_template(platform_id, template_id):
    """设置审核通知所用的模板消息 ID(对方 48 小时内未互动时使用);不写 ID 则清除。

    模板需有 keyword1(事项)、keyword2(稿件)、keyword3(回复方式)、keyword4(时间)四个字段。
    """
    done = deliver.set_template(store(), operator(), platform_id, template_id)
    click.echo(f"平台 {platform_id} 的通知模板:{done or '未设置(只发客服消息)'}")


@click.command("bind-code")
@click.argument("person_id")
@click.option("--platform", "platform_id", required=True, help="要绑定的公众号平台标识")
def bind_code(person_id, platform_id):
    """签发一次性绑定码:本人在该公众号中发送「绑定 <绑定码>」完成绑定。"""
    ttl = get_settings().bind_code_ttl
    keyring = masterkey.load_keyring(get_settings())
    code = bindcodes.issue(store(), keyring, operator(), person_id, platform_id, ttl)
    click.echo(f"绑定码:{code}(仅显示这一次,{_duration(ttl)}内有效,只能使用一次)")
    click.echo(f"请本人在公众号中发送:绑定 {code}")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f" {seconds // 3600} 小时"
    return f" {seconds // 60} 分钟"


@click.group("binding")
def binding_group():
    """微信绑定。"""


@binding_group.command("revoke")
@click.argument("platform_id")
@click.argument("openid")
@click.option("--reason", required=True, help="原因(必填)")
def binding_revoke(platform_id, openid, reason):
    """解除一个微信号的绑定。"""
    person = bindcodes.unbind(store(), operator(), platform_id, openid, reason)
    click.echo(f"已解除 {person} 在平台 {platform_id} 上的绑定")


@click.group("draft")
def draft_group():
    """稿件。"""


@draft_group.command("list")
@click.option("--platform", "platform_id", default=None, help="平台标识")
@click.option("--status", default=None, help="状态:" + "、".join(lifecycle.STATUSES))
@click.option("--limit", default=50, type=click.IntRange(1, 1000), help="最多显示条数")
def draft_list(platform_id, status, limit):
    """列出稿件,新的在前。"""
    found = lifecycle.list_drafts(store(), platform=platform_id, status=status, limit=limit)
    for d in found:
        label = lifecycle.STATUSES[d.status]
        click.echo(
            f"{d.id}\t{d.platform}\t{lifecycle.KINDS[d.kind]}\t{label}\t第{d.version}版\t{d.author}"
        )
    if not found:
        click.echo("没有符合条件的稿件")


@draft_group.command("reindex")
def draft_reindex():
    """重建稿件列表的索引、各平台最近发布时间与告警的日索引(升级后运行一次)。"""
    r = store()
    click.echo(f"已重建 {review.reindex(r)} 篇稿件的索引")
    reconcile.reindex(r, [p.id for p in platforms.all_platforms(r)])
    click.echo(f"已按日索引 {alertstate.reindex_days(r)} 条告警")


@draft_group.command("show")
@click.argument("draft_id")
def draft_show(draft_id):
    """显示稿件当前版本与审核进度。"""
    r = store()
    state = review.state(r, draft_id)
    d, current = state.draft, lifecycle.version(r, draft_id)
    click.echo(f"{d.id} {lifecycle.KINDS[d.kind]}稿件 @ {d.platform},作者 {d.author}")
    click.echo(f"状态:{lifecycle.STATUSES[d.status]} {d.status_reason}".rstrip())
    click.echo(f"第 {d.version} 版  内容哈希 {d.content_hash}")
    for req in state.required:
        given = state.given.get(req.signoff)
        mark = f"已通过({given['person']} {given['at']})" if given else "待审核"
        click.echo(f"需要 {review.SIGNOFFS[req.signoff]}:{mark}  [{req.rule}]")
    for name, value in current.content.items():
        click.echo(f"  {name}: {value[:200]}")


@platform_group.command("export")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def platform_export(output):
    """导出平台台账(CSV):类型、级别、单位、第一责任人、管理员、备案日期、最近发布、状态、僵尸号。"""
    found = inventory.rows(store(), get_settings().dormant_days)
    inventory.write_csv(found, output)


def register(cli: click.Group) -> None:
    for command in (
        unit_group,
        person_group,
        role_group,
        platform_group,
        bind_code,
        binding_group,
        draft_group,
    ):
        cli.add_command(command)


@platform_group.command("domain")
@click.argument("platform_id")
@click.argument("domain")
def platform_domain(platform_id, domain):
    """登记无发布接口的平台(微博、网站、客户端)的域名;报告的发布链接须在此域名上。"""
    site = sites.set_domain(store(), operator(), platform_id, domain)
    click.echo(f"平台 {site.platform} 的域名已设为 {site.domain}")


@platform_group.command("feed")
@click.argument("platform_id")
@click.argument("url")
@click.option(
    "--kind", default="rss", show_default=True, help="类型:" + "、".join(sites.FEED_KINDS)
)
def platform_feed(platform_id, url, kind):
    """登记平台的订阅(RSS/Atom、sitemap 或列表页),用于发现未经审核的发布。"""
    site = sites.set_feed(store(), operator(), platform_id, url, kind)
    click.echo(
        f"平台 {site.platform} 的订阅已设为 {site.feed_url}({sites.FEED_KINDS[site.feed_kind]})"
    )
