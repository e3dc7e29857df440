"""Platforms: filing, tiers and owners, status changes with reasons, re-filing on owner change."""

from datetime import date

import pytest

from app.core import audit, keys
from app.core.errors import Conflict, InvalidInput, NotFound
from app.drafts import suspension
from app.registry import access, filings, owners, people, platforms, units
from tests.factories import OPERATOR, confirm_office, refiled, snapshot, world


def registry(r):
    unit = units.create(r, OPERATOR, "学生会", "student_union")
    league = units.create(r, OPERATOR, "校团委", "youth_league")
    boss = people.create(r, OPERATOR, "团委书记", phone="0579-1234567", email="tw@jhc.cn")
    admin = people.create(r, OPERATOR, "学生干部", qq="12345678")
    return unit.id, league.id, boss.id, admin.id


# The fields of a platform owned by what ``registry`` creates in a clean database.
FIELDS = dict(
    name="学生会公众号",
    kind="wechat",
    tier=3,
    unit="U1",
    supervising_unit="U2",
    responsible="P1",
    admins=["P2"],
)
APPID = "wx0123456789abcdef"
TODAY = date.today().isoformat()


def create(r, **overrides):
    registry(r)
    return platforms.create(r, OPERATOR, "xsh-wx", **{**FIELDS, "appid": APPID, **overrides})


def test_a_new_platform_starts_in_filing_with_its_owners(r):
    """A new platform is in filing, with its tier, units, one responsible person and admins."""
    p = create(r)
    assert p.status == "filing" and p.tier == 3
    assert platforms.get(r, "xsh-wx") == p
    assert access.has_role(r, p.responsible, "responsible", "xsh-wx")
    assert all(access.has_role(r, a, "admin", "xsh-wx") for a in p.admins)
    assert platforms.by_appid(r, APPID).id == "xsh-wx"
    assert platforms.filings(r, "xsh-wx")[0]["kind"] == "initial"


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"tier": 4}, InvalidInput, "级别"),
        ({"kind": "tiktok"}, InvalidInput, "平台类型"),
        ({"admins": []}, InvalidInput, "至少需要一名管理员"),
        ({"responsible": "P99"}, NotFound, "P99"),
        ({"unit": "U77"}, NotFound, "U77"),
        ({"name": ""}, InvalidInput, "平台名称不能为空"),
        ({"name": "名" * 65}, InvalidInput, "平台名称过长"),
        ({"appid": "not-an-appid"}, InvalidInput, "AppID"),
        ({"responsible": "P2"}, Conflict, "不能同时担任"),
    ],
)
def test_bad_platform_input_is_refused_and_writes_nothing(r, overrides, error, message):
    """Each invalid field gets its own message and leaves Redis as it was."""
    registry(r)
    before = snapshot(r)
    with pytest.raises(error, match=message):
        platforms.create(r, OPERATOR, "xsh-wx", **{**FIELDS, **overrides})
    assert snapshot(r) == before


@pytest.mark.parametrize("bad_id", ["X", "1abc", "has space", "UPPER_case!", "a" * 40])
def test_bad_platform_ids_are_refused(r, bad_id):
    """Platform ids are short lowercase slugs that fit in a webhook URL."""
    with pytest.raises(InvalidInput, match="平台标识"):
        platforms.get(r, bad_id)


def test_platform_ids_and_appids_are_unique(r):
    """A second platform with the same id, or the same AppID, is refused."""
    create(r)
    with pytest.raises(Conflict, match="已被使用"):
        platforms.create(r, OPERATOR, "xsh-wx", **FIELDS)
    with pytest.raises(Conflict, match="AppID"):
        platforms.create(r, OPERATOR, "other-wx", **FIELDS, appid=APPID)


# The moves a person may make by hand; filing → active is made by the filing chain only.
ALLOWED = {
    ("filing", "closed"),
    ("active", "suspended"),
    ("active", "closed"),
    ("suspended", "active"),
    ("suspended", "closed"),
}
PATH = {
    "filing": [],
    "active": [],
    "suspended": ["suspended"],
    "closed": ["closed"],
}


@pytest.mark.parametrize("start", sorted(PATH))
@pytest.mark.parametrize("target", ["filing", "active", "suspended", "closed"])
def test_status_changes_follow_the_table(r, start, target):
    """Active ⇄ suspended → closed; closed is final; every change needs a reason."""
    create(r)
    if start != "filing":
        filings.file_in_one_go(r, OPERATOR, "xsh-wx", signer="签字人")
    for step in PATH[start]:
        suspension.change_status(r, OPERATOR, "xsh-wx", step, "测试")
    if (start, target) in ALLOWED:
        p, _ = suspension.change_status(r, OPERATOR, "xsh-wx", target, "第十七条责令关闭")
        assert p.status == target and platforms.get(r, "xsh-wx").status_reason == "第十七条责令关闭"
    else:
        before = snapshot(r)
        with pytest.raises(Conflict):
            suspension.change_status(r, OPERATOR, "xsh-wx", target, "测试")
        assert snapshot(r) == before


def test_a_platform_in_filing_runs_only_when_its_form_is_complete(r):
    """Art. 4, 6, 7: activating by hand is refused with the article; the chain activates it."""
    create(r)
    before = snapshot(r)
    with pytest.raises(Conflict, match="第四、六、七条") as refused:
        suspension.change_status(r, OPERATOR, "xsh-wx", "active", "备案审批完成")
    assert refused.value.code == "filing_incomplete" and snapshot(r) == before
    filings.file_in_one_go(r, OPERATOR, "xsh-wx", signer="签字人")
    assert platforms.get(r, "xsh-wx").status == "active"


def test_status_change_without_reason_is_refused(r):
    """A status change with an empty reason is refused."""
    create(r)
    with pytest.raises(InvalidInput, match="原因不能为空"):
        suspension.change_status(r, OPERATOR, "xsh-wx", "closed", " ")


def test_a_new_responsible_person_takes_charge_only_when_the_refiling_completes(r):
    """Art. 6: the change waits on the re-filing form; the current owner stays in charge."""
    w = world(r)
    newcomer = people.create(r, OPERATOR, "新书记")
    change = owners.set_responsible(r, OPERATOR, w.platform, newcomer.id, "人事调整")
    assert change.filing.kind == "refiling" and change.filing.status == filings.OPEN
    assert change.filing.pending["responsible"] == newcomer.id
    assert change.filing.form["responsible"]["name"] == "新书记"
    assert platforms.get(r, w.platform).responsible == w.responsible
    assert access.has_role(r, w.responsible, "responsible", w.platform)
    assert not access.has_role(r, newcomer.id, "responsible", w.platform)
    refiled(r, change)
    assert platforms.get(r, w.platform).responsible == newcomer.id
    assert not access.has_role(r, w.responsible, "responsible", w.platform)
    assert access.has_role(r, newcomer.id, "responsible", w.platform)
    actions = [rec["action"] for rec in audit.records(r, platform=w.platform)]
    assert actions[-2:] == ["filing.sign", "platform.owners"]


def test_a_refused_refiling_discards_the_change(r):
    """A disagreeing opinion ends the form; the owners are as they were."""
    w = world(r)
    change = owners.remove_admin(r, OPERATOR, w.platform, w.other_admin, "调岗")
    opinion = {"decision": "disagree", "opinion": "不同意", "signer": "某某"}
    filings.sign_step(r, OPERATOR, change.filing.id, "unit_head", {**opinion, "signed_on": TODAY})
    assert w.other_admin in platforms.get(r, w.platform).admins
    assert access.has_role(r, w.other_admin, "admin", w.platform)
    assert filings.pending_owners(r, w.platform) is None


def test_changes_gather_on_one_open_refiling_and_keep_an_administrator(r):
    """Several changes build one proposal; removing the last administrator is refused."""
    w = world(r)
    newcomer = people.create(r, OPERATOR, "新干部")
    first = owners.add_admin(r, OPERATOR, w.platform, newcomer.id, "补充")
    second = owners.remove_admin(r, OPERATOR, w.platform, w.other_admin, "调岗")
    assert first.filing.id == second.filing.id
    assert second.filing.pending["admins"] == sorted([w.admin, newcomer.id])
    owners.remove_admin(r, OPERATOR, w.platform, w.admin, "调岗")
    before = snapshot(r)
    with pytest.raises(Conflict, match="至少要有一名管理员"):
        owners.remove_admin(r, OPERATOR, w.platform, newcomer.id, "调岗")
    assert snapshot(r) == before
    refiled(r, second)
    assert platforms.get(r, w.platform).admins == {newcomer.id}


def test_a_refiling_already_being_signed_takes_no_more_changes(r):
    """Opinions given on a proposal are not carried over to a different one."""
    w = world(r)
    change = owners.remove_admin(r, OPERATOR, w.platform, w.other_admin, "调岗")
    agree = {"decision": "agree", "opinion": "同意", "signer": "某某", "signed_on": TODAY}
    filings.sign_step(r, OPERATOR, change.filing.id, "unit_head", agree)
    before = snapshot(r)
    with pytest.raises(Conflict, match="第六条"):
        owners.add_admin(r, OPERATOR, w.platform, w.other_admin, "回岗")
    assert snapshot(r) == before


def test_owner_change_during_filing_is_not_a_refiling(r):
    """Before the platform runs, changing its owners amends it at once."""
    p = create(r)
    other = people.create(r, OPERATOR, "另一位干部")
    change = owners.add_admin(r, OPERATOR, p.id, other.id, "补充管理员")
    assert change.filing is None and other.id in platforms.get(r, p.id).admins
    assert access.has_role(r, other.id, "admin", p.id)


def test_responsible_person_cannot_be_an_admin_of_the_same_platform(r):
    """The responsible person reviews the administrators' posts, so cannot be one of them."""
    w = world(r)
    with pytest.raises(Conflict, match="不能同时担任"):
        owners.add_admin(r, OPERATOR, w.platform, w.responsible, "兼任")


def test_a_pending_change_whose_person_is_gone_cannot_complete(r):
    """The last opinion is refused with one line, and nothing changes, if a person vanished."""
    w = world(r)
    newcomer = people.create(r, OPERATOR, "新书记")
    change = owners.set_responsible(r, OPERATOR, w.platform, newcomer.id, "人事调整")
    agree = {"decision": "agree", "opinion": "同意", "signer": "某某", "signed_on": TODAY}
    confirm_office(r, change.filing.id)
    for step in filings.STEPS[:-1]:
        filings.sign_step(r, OPERATOR, change.filing.id, step.name, agree)
    r.delete(keys.person(newcomer.id))
    before = snapshot(r)
    with pytest.raises(Conflict, match=f"{newcomer.id} 已不存在"):
        filings.sign_step(r, OPERATOR, change.filing.id, "party_secretary", agree)
    assert snapshot(r) == before


@pytest.mark.parametrize(
    ("owner_kind", "tier", "supervisor_kind", "field", "message"),
    [
        ("student_club", 1, "youth_league", "tier", "不能主办一级平台"),
        ("secondary_college", 3, "youth_league", "tier", "不能主办三级平台"),
        ("propaganda", 2, "propaganda", "tier", "二级平台由"),
        ("teacher_club", 3, "youth_league", "supervising_unit", "应由工会主管"),
        ("student_union", 3, "secondary_college", "supervising_unit", "第十二条"),
    ],
)
def test_art12_tier_and_unit_mismatches_are_refused(
    r, owner_kind, tier, supervisor_kind, field, message
):
    """Art. 12 as a table: who may own a tier, who supervises a tier-3 platform."""
    registry(r)
    owner = units.create(r, OPERATOR, "某单位", owner_kind)
    supervisor = units.create(r, OPERATOR, "某主管单位", supervisor_kind)
    before = snapshot(r)
    fields = {**FIELDS, "tier": tier, "unit": owner.id, "supervising_unit": supervisor.id}
    with pytest.raises(InvalidInput, match=message) as refused:
        platforms.create(r, OPERATOR, "bad-wx", **fields)
    assert refused.value.field == field and snapshot(r) == before


def test_a_student_clubs_platform_filed_as_tier_one_and_supervised_by_itself_is_refused(r):
    """The issue's own example: both mistakes at once are refused, nothing is written."""
    registry(r)
    club = units.create(r, OPERATOR, "摄影社", "student_club")
    before = snapshot(r)
    fields = {**FIELDS, "tier": 1, "unit": club.id, "supervising_unit": club.id}
    with pytest.raises(InvalidInput, match="第十二条"):
        platforms.create(r, OPERATOR, "sys-wx", **fields)
    with pytest.raises(InvalidInput, match="自己主管"):
        platforms.create(r, OPERATOR, "sys-wx", **{**fields, "tier": 3})
    assert snapshot(r) == before


def test_art13_office_mismatch_is_a_warning_on_the_form(r):
    """A responsible person whose title is not the office art. 13 names is flagged, not refused."""
    create(r)
    filing = filings.open_form(r, OPERATOR, "xsh-wx")
    assert filing.form["warnings"] == [
        "第十三条规定第一责任人应为校团委书记,登记的职务为「未登记职务」,请宣传部核实"
    ]
    secretary = people.create(r, OPERATOR, "团委书记", title="校团委书记")
    create_fields = {**FIELDS, "responsible": secretary.id}
    platforms.create(r, OPERATOR, "tw-wx", **create_fields)
    assert filings.open_form(r, OPERATOR, "tw-wx").form["warnings"] == []
