"""Small builders for tests: a unit, people and an active platform with its owners."""

from dataclasses import dataclass

from app.core import audit, keys
from app.core.masterkey import Keyring
from app.drafts import lifecycle, suspension
from app.registry import filings, owners, people, platforms, units

OPERATOR = audit.Actor.cli("tester")
KEYRING = Keyring([bytes(range(32))])


def actor(person_id: str) -> audit.Actor:
    return audit.Actor(via="chat", person=person_id, openid=f"openid-{person_id}")


# Art. 12: the unit that may own each tier, and the one that supervises it.
OWNERS = {
    1: lambda pid: (f"党委宣传部-{pid}", "propaganda"),
    2: lambda pid: (f"计算机学院-{pid}", "secondary_college"),
    3: lambda pid: (f"学生会-{pid}", "student_union"),
}
SUPERVISORS = {
    1: lambda pid: (f"党委-{pid}", "party_org"),
    2: lambda pid: (f"党委宣传部-{pid}", "propaganda"),
    3: lambda pid: (f"校团委-{pid}", "youth_league"),
}


@dataclass
class World:
    """One platform with a responsible person, an administrator and a propaganda reviewer."""

    platform: str
    responsible: str
    admin: str
    propaganda: str
    other_admin: str


def world(
    r,
    *,
    tier: int = 2,
    platform_id: str = "jsj-wx",
    status: str = "active",
    appid: str = "",
    kind: str = "wechat",
) -> World:
    unit = units.create(r, OPERATOR, *OWNERS[tier](platform_id))
    league = units.create(r, OPERATOR, *SUPERVISORS[tier](platform_id))
    responsible = people.create(r, OPERATOR, "李书记")
    admin = people.create(r, OPERATOR, "王老师")
    other_admin = people.create(r, OPERATOR, "赵老师")
    propaganda = people.create(r, OPERATOR, "宣传部张部长")
    people.grant_college_role(r, OPERATOR, propaganda.id, "propaganda")
    platforms.create(
        r,
        OPERATOR,
        platform_id,
        name="计算机学院微信公众号" if kind == "wechat" else f"计算机学院{platforms.KINDS[kind]}",
        kind=kind,
        tier=tier,
        unit=unit.id,
        supervising_unit=league.id,
        responsible=responsible.id,
        admins=[admin.id, other_admin.id],
        appid=appid,
    )
    if status != "filing":
        filings.file_in_one_go(r, OPERATOR, platform_id, signer="测试签字人")
    if status not in ("filing", "active"):
        suspension.change_status(r, OPERATOR, platform_id, status, "测试")
    return World(platform_id, responsible.id, admin.id, propaganda.id, other_admin.id)


def refiled(r, change: owners.OwnerChange) -> None:
    """Complete the re-filing a change of owners waits on (art. 6), so that it takes effect."""
    agree = {"decision": "agree", "opinion": "同意变更", "signer": "测试签字人"}
    confirm_office(r, change.filing.id)
    for step in filings.STEPS:
        today = {"signed_on": filings.now().date()}
        filings.sign_step(r, OPERATOR, change.filing.id, step.name, {**agree, **today})


def confirm_office(r, fid: str) -> None:
    """Confirm the form's art. 13 office warning, as the propaganda department must first."""
    if filings.get(r, fid).office_unconfirmed:
        filings.confirm_office(r, OPERATOR, fid, "职务已核实")


def text_draft(r, w: World, text: str = "计算机学院举办程序设计竞赛", **kwargs) -> lifecycle.Draft:
    return lifecycle.create(r, actor(w.admin), w.platform, "text", {"text": text}, **kwargs)


def submitted(r, w: World, **kwargs) -> lifecycle.Draft:
    draft = text_draft(r, w, **kwargs)
    return lifecycle.submit(r, actor(w.admin), draft.id)


def snapshot(r) -> dict[bytes, bytes]:
    """Every key with its serialized value, to prove a refused call wrote nothing."""
    return {key: r.dump(key) for key in sorted(r.keys("*"))}


def add_term(directory, category: str, term: str) -> None:
    with open(directory / f"{category}.txt", "a", encoding="utf-8") as f:
        f.write(f"\n{term}\n")


def store_not_utf8(r, action: str, field: str = "reason", tail: bytes = b"\xff\xfe") -> str:
    """Give the first ``action`` record bytes that are not UTF-8 after ``field``, straight in
    the stream, as anyone with Redis access (or a damaged disk) could; its stream id."""
    stream = keys.audit_stream()
    rows = r.xrange(stream)
    target = next(entry_id for entry_id, fields in rows if fields[b"action"] == action.encode())
    r.delete(stream)
    for entry_id, fields in rows:
        if entry_id == target:
            fields = {**fields, field.encode(): fields[field.encode()] + tail}
        r.xadd(stream, fields, id=entry_id)
    return target.decode()
