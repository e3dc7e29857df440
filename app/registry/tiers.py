"""Art. 12–13 as tables: who may own which tier, who supervises a tier-3 platform, and
which office its first responsible person holds.

A tier or unit that breaks the table is refused with the article quoted; an office that
does not match the title on file is only a warning on the filing form, for the propaganda
department to weigh when it gives its opinion (titles are free text and may be stale).
"""

from app.core.errors import InvalidInput
from app.registry import units

ART12 = "第十二条"
STUDENT_ORGS = {"youth_league", "student_union", "student_club"}

# Art. 12: 一级平台…由党委宣传部负责运行(学院网站由信息中心负责运行);二级平台…由二级学院(部)、
# 职能部门、科研机构主办;三级平台…由团组织、学生会、学生社团和教师社团主办。
TIER_OWNERS = {
    1: {"propaganda", "information_centre"},
    2: {"secondary_college", "department", "research_institute"},
    3: STUDENT_ORGS | {"teacher_club"},
}
# Art. 12: 校级学生组织由校团委管理,二级学院(部)学生组织由其党总支(直属党支部)管理,
# 教师社团由校工会管理 — the kinds of unit that may supervise a tier-3 platform.
TIER3_SUPERVISORS = {
    "youth_league": {"youth_league", "party_org"},
    "student_union": {"youth_league", "party_org"},
    "student_club": {"youth_league", "party_org"},
    "teacher_club": {"trade_union"},
}
# Art. 13: the first responsible person's office, by owning unit kind (and, for student
# organisations, by who supervises them).
OFFICES = {
    "propaganda": "宣传部部长",
    "information_centre": "部门主要负责人",
    "secondary_college": "党总支书记",
    "department": "部门主要负责人",
    "research_institute": "部门主要负责人",
    "teacher_club": "校工会副主席",
}
STUDENT_ORG_OFFICES = {"youth_league": "校团委书记", "party_org": "党总支书记"}


def check(tier: int, owner: units.Unit, supervisor: units.Unit) -> None:
    """Refuse a tier, owner and supervisor that art. 12 does not allow together."""
    if owner.kind not in TIER_OWNERS[tier]:
        allowed = "、".join(units.KINDS[k] for k in sorted(TIER_OWNERS[tier]))
        raise InvalidInput(
            f"「{owner.name}」({owner.kind_label})不能主办{_tier(tier)}:"
            f"{ART12}规定{_tier(tier)}由{allowed}主办",
            field="tier",
        )
    if tier != 3:
        return
    if supervisor.id == owner.id:
        raise InvalidInput(
            f"三级平台不能由主办单位自己主管({ART12}:三级平台由校团委、党总支或校工会管理)",
            field="supervising_unit",
        )
    if supervisor.kind not in TIER3_SUPERVISORS[owner.kind]:
        allowed = "、".join(units.KINDS[k] for k in sorted(TIER3_SUPERVISORS[owner.kind]))
        raise InvalidInput(
            f"{owner.kind_label}的平台应由{allowed}主管,不能由「{supervisor.name}」主管({ART12})",
            field="supervising_unit",
        )


def office(owner: units.Unit, supervisor: units.Unit) -> str:
    """The office art. 13 names for this platform's first responsible person."""
    if owner.kind in STUDENT_ORGS:
        return STUDENT_ORG_OFFICES.get(supervisor.kind, "校团委书记")
    return OFFICES.get(owner.kind, "")


def office_warning(title: str, owner: units.Unit, supervisor: units.Unit) -> str:
    """A warning when the person's title on file is not the office art. 13 names, else ""."""
    expected = office(owner, supervisor)
    if not expected or expected in (title or ""):
        return ""
    shown = title or "未登记职务"
    return f"第十三条规定第一责任人应为{expected},登记的职务为「{shown}」,请宣传部核实"


def _tier(tier: int) -> str:
    return {1: "一级平台", 2: "二级平台", 3: "三级平台"}[tier]
