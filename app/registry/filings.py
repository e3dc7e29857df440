"""Filing forms (备案审批表, art. 6 and the attachment) and their sign-off chain.

A form holds every field of the attachment, copied from the platform and its people
when the form is opened, and five opinions signed and dated in a fixed order (``STEPS``).
The propaganda department records each opinion as it comes back on paper. A platform in
``filing`` becomes ``active`` in the same transaction as the last agreeing opinion, and
never before; a disagreeing opinion ends the form as refused. A form that carries an art. 13
office warning needs the propaganda department's explicit confirmation (``confirm_office``)
before its own agreeing opinion is recorded, so nobody agrees past the warning unseen.
"""

import json
from dataclasses import dataclass
from datetime import date

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, now, timestamp
from app.registry import access, people, platforms, tiers, units


@dataclass(frozen=True)
class Step:
    name: str
    label: str


# The attachment's chain, in the order the opinions are given.
STEPS = (
    Step("unit_head", "申请单位负责人意见"),
    Step("propaganda", "党委宣传部意见"),
    Step("unit_leader", "申请单位主管领导意见"),
    Step("propaganda_leader", "党委宣传部主管领导意见"),
    Step("party_secretary", "党委书记意见"),
)
DECISIONS = {"agree": "同意", "disagree": "不同意"}
OPEN, COMPLETE, REFUSED = "open", "complete", "refused"
STATUSES = {OPEN: "审批中", COMPLETE: "审批完成", REFUSED: "未获批准"}
KINDS = {"initial": "新开设", "refiling": "变更负责人或管理员"}
# The step at which the propaganda department weighs the form: it must have confirmed the
# office warnings first (art. 12-13).
CONFIRMS_OFFICE = "propaganda"


@dataclass(frozen=True)
class Filing:
    id: str
    platform: str
    kind: str
    status: str
    form: dict
    steps: list[dict]
    opened_at: str
    pending: dict | None = None

    @property
    def next_step(self) -> Step | None:
        return STEPS[len(self.steps)] if self.status == OPEN else None

    @property
    def office_unconfirmed(self) -> bool:
        """The form warns of an office mismatch that the propaganda department has not confirmed."""
        return bool(self.form.get("warnings")) and not self.form.get("office_confirmed")

    def stored(self) -> dict[str, str]:
        return {
            "id": self.id,
            "platform": self.platform,
            "kind": self.kind,
            "status": self.status,
            "form": json.dumps(self.form, ensure_ascii=False),
            "steps": json.dumps(self.steps, ensure_ascii=False),
            "opened_at": self.opened_at,
            "pending": json.dumps(self.pending, ensure_ascii=False),
        }


def filing_id(raw) -> str:
    return validate.short_id(raw, "F", "备案表")


def _load(r, fid: str) -> Filing:
    return _from_stored(fid, decode(r.hgetall(keys.filing(fid))))


def _from_stored(fid: str, raw: dict[str, str]) -> Filing:
    if not raw:
        raise NotFound(f"没有编号为 {fid} 的备案表")
    loaded = {k: json.loads(raw[k]) for k in ("form", "steps") if k in raw}
    return Filing(**{**raw, **loaded, "pending": json.loads(raw.get("pending") or "null")})


def get(r: redis.Redis, raw_id: str) -> Filing:
    return _load(r, filing_id(raw_id))


def of_platform(r: redis.Redis, platform_id: str) -> list[Filing]:
    """A platform's forms, newest first."""
    ids = r.lrange(keys.platform_forms(platform_id), 0, -1)
    return [_load(r, fid.decode()) for fid in reversed(ids)]


def of_platforms(r: redis.Redis, platform_ids: list[str]) -> dict[str, list[Filing]]:
    """Each platform's forms, newest first, in two round trips whatever their number."""
    with r.pipeline(transaction=False) as pipe:
        for pid in platform_ids:
            pipe.lrange(keys.platform_forms(pid), 0, -1)
        listed = [[fid.decode() for fid in reversed(ids)] for ids in pipe.execute()]
    with r.pipeline(transaction=False) as pipe:
        for fid in (fid for ids in listed for fid in ids):
            pipe.hgetall(keys.filing(fid))
        loaded = iter(pipe.execute())
    return {
        pid: [_from_stored(fid, decode(next(loaded))) for fid in ids]
        for pid, ids in zip(platform_ids, listed, strict=True)
    }


def form_of(
    r: redis.Redis, platform: platforms.Platform, other_media: str, owners: dict | None = None
) -> dict:
    """The attachment's fields, from the platform and its people (or the proposed owners)."""
    owners = owners or platforms.owners_of(platform)
    responsible = people.get(r, owners["responsible"])
    admins = [people.get(r, pid) for pid in sorted(owners["admins"])]
    owner, supervisor = units.get(r, platform.unit), units.get(r, platform.supervising_unit)
    warning = tiers.office_warning(responsible.title, owner, supervisor)
    return {
        "warnings": [warning] if warning else [],
        "unit": owner.name,
        "platform_name": platform.name,
        "platform_kind": platforms.KINDS[platform.kind],
        "account": platform.account or platform.appid,
        "other_media": validate.text(other_media, "其他媒体名称", max_len=64, required=False),
        "purpose": platform.purpose,
        "admins": [
            {"name": a.name, "title": a.title, "phone": a.phone, "qq": a.qq} for a in admins
        ],
        "responsible": {
            "name": responsible.name,
            "phone": responsible.phone,
            "email": responsible.email,
        },
    }


def open_form(
    r: redis.Redis, actor: audit.Actor, platform_id: str, *, other_media: str = ""
) -> Filing:
    """Open a platform's form: a new platform's first, or a re-filing after an owner change."""
    access.authorize(r, actor, (access.PROPAGANDA,), "发起备案")
    platform = platforms.get(r, platform_id)
    form = form_of(r, platform, other_media)
    if platform.status == platforms.CLOSED:
        raise Conflict(f"平台 {platform.id} 已关闭,不能再备案")

    def change(tx: Tx) -> Filing:
        current = platforms.read_in(tx, platform.id)
        tx.watch(keys.platform_forms(platform.id))
        if any(f.status == OPEN for f in of_platform(tx.read, platform.id)):
            raise Conflict(f"平台 {platform.id} 已有审批中的备案表")
        kind = "initial" if current.status == platforms.FILING else "refiling"
        filing = Filing(tx.next_id("filing", "F"), platform.id, kind, OPEN, form, [], timestamp())
        tx.write.hset(keys.filing(filing.id), mapping=filing.stored())
        tx.write.rpush(keys.platform_forms(platform.id), filing.id)
        detail = {"filing": filing.id, "kind": kind}
        audit.append(tx, actor, "filing.open", platform=platform.id, detail=detail)
        return filing

    return atomically(r, [], change)


def signed_on(raw, previous: str | None, today: date | None = None) -> str:
    """The date an opinion was signed: not in the future, not before the opinion before it."""
    try:
        value = date.fromisoformat(str(raw or "").strip())
    except ValueError:
        raise InvalidInput("签字日期格式应为 YYYY-MM-DD", field="signed_on") from None
    if value > (today or now().date()):
        raise InvalidInput("签字日期不能晚于今天", field="signed_on")
    if previous and value < date.fromisoformat(previous):
        raise InvalidInput(f"签字日期不能早于上一步的 {previous}", field="signed_on")
    return value.isoformat()


def _checked_step(filing: Filing, step: str, fields: dict, today: date | None) -> dict:
    expected = filing.next_step
    if expected is None:
        raise Conflict(f"备案表 {filing.id} 已{STATUSES[filing.status]},不能再签署")
    if step != expected.name:
        raise Conflict(
            f"备案表 {filing.id} 现在应填写「{expected.label}」(第六条:审批表的意见按附件顺序签署)",
            code="out_of_order",
        )
    previous = filing.steps[-1]["signed_on"] if filing.steps else None
    entry = {
        "step": step,
        "decision": validate.choice(fields.get("decision"), DECISIONS, "审批结果"),
        "opinion": _field(validate.text, fields.get("opinion"), "意见", "opinion", 500),
        "signer": _field(validate.text, fields.get("signer"), "签字人", "signer", 32),
        "signed_on": signed_on(fields.get("signed_on"), previous, today),
    }
    if step == CONFIRMS_OFFICE and entry["decision"] == "agree" and filing.office_unconfirmed:
        raise Conflict(
            f"备案表 {filing.id} 的第一责任人职务与规定不符,须党委宣传部先确认该提示"
            "才能同意(第十二、十三条)",
            code="office_unconfirmed",
        )
    return entry


def _field(check, value, label: str, field: str, max_len: int) -> str:
    try:
        return check(value, label, max_len=max_len, multiline=field == "opinion")
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field) from None


def sign_step(
    r: redis.Redis,
    actor: audit.Actor,
    raw_id: str,
    step: str,
    fields: dict,
    *,
    today: date | None = None,
) -> Filing:
    """Record the next opinion; the last agreeing one makes a platform in filing active."""
    access.authorize(r, actor, (access.PROPAGANDA,), "登记备案审批意见")
    fid = filing_id(raw_id)

    def change(tx: Tx) -> Filing:
        filing = _load(tx.read, fid)
        entry = _checked_step(filing, step, fields, today)
        entry.update(recorded_by=actor.person or actor.operator, recorded_at=timestamp())
        steps = [*filing.steps, entry]
        status = OPEN
        if entry["decision"] == "disagree":
            status = REFUSED
        elif len(steps) == len(STEPS):
            status = COMPLETE
        done = Filing(**{**filing.__dict__, "steps": steps, "status": status})
        current = platforms.read_in(tx, filing.platform)
        if status == COMPLETE and filing.pending:
            _check_pending_people(tx, filing.pending)
        tx.write.hset(keys.filing(fid), mapping=done.stored())
        detail = {"filing": fid, "step": step, "signer": entry["signer"]}
        audit.append(
            tx,
            actor,
            "filing.sign",
            platform=filing.platform,
            decision=entry["decision"],
            reason=entry["opinion"],
            detail=detail,
        )
        why = f"备案表 {fid} 审批完成"
        if status == COMPLETE and filing.pending:
            _apply_pending_in(tx, actor, current, filing.pending, why)
        if status == COMPLETE and current.status == platforms.FILING:
            platforms.write_status_in(tx, actor, current, platforms.ACTIVE, why)
        return done

    return atomically(r, [keys.filing(fid)], change)


def confirm_office(r: redis.Redis, actor: audit.Actor, raw_id: str, note: str = "") -> Filing:
    """The propaganda department confirms the form's office warning (art. 12-13), audited."""
    access.authorize(r, actor, (access.PROPAGANDA,), "确认第一责任人职务")
    fid = filing_id(raw_id)
    note = validate.text(note, "确认说明", max_len=validate.REASON_MAX, required=False)

    def change(tx: Tx) -> Filing:
        filing = _load(tx.read, fid)
        if filing.status != OPEN:
            raise Conflict(f"备案表 {fid} 已{STATUSES[filing.status]},不能再确认")
        if not filing.office_unconfirmed:
            said = "已确认过" if filing.form.get("warnings") else "没有职务提示"
            raise Conflict(f"备案表 {fid} {said},无需确认(第十三条)", code="nothing_to_confirm")
        by = actor.person or actor.operator
        confirmed = {"by": by, "at": timestamp(), "note": note}
        done = Filing(**{**filing.__dict__, "form": {**filing.form, "office_confirmed": confirmed}})
        tx.write.hset(keys.filing(fid), mapping=done.stored())
        detail = {"filing": fid, "warnings": filing.form["warnings"]}
        audit.append(
            tx, actor, "filing.confirm_office", platform=filing.platform, reason=note, detail=detail
        )
        return done

    return atomically(r, [keys.filing(fid)], change)


def file_in_one_go(
    r: redis.Redis, actor: audit.Actor, platform_id: str, *, signer: str, opinion: str = "同意"
) -> Filing:
    """Open a form and record five agreeing opinions, each through ``sign_step``.

    For the demo and the tests, which register platforms the only way there is: the form
    and its whole chain, audited step by step like any other.
    """
    filing = open_form(r, actor, platform_id)
    if filing.office_unconfirmed:
        filing = confirm_office(r, actor, filing.id, "职务已核实")
    agree = {"decision": "agree", "opinion": opinion, "signer": signer}
    for step in STEPS:
        filing = sign_step(r, actor, filing.id, step.name, {**agree, "signed_on": now().date()})
    return filing


def open_refiling_in(tx: Tx, platform_id: str) -> Filing | None:
    """The platform's open form, read (and watched) inside a transaction."""
    tx.watch(keys.platform_forms(platform_id))
    return next((f for f in of_platform(tx.read, platform_id) if f.status == OPEN), None)


def write_pending_in(
    tx: Tx, actor: audit.Actor, platform: platforms.Platform, owners: dict, why: str
) -> Filing:
    """Attach a change of owners to the platform's re-filing form, opening one if needed.

    Art. 6: a new responsible person or administrator needs a new form; until its chain
    completes the current owners stay in charge, and a refused form discards the change.
    """
    filing = open_refiling_in(tx, platform.id)
    if filing and filing.steps:
        raise Conflict(
            f"备案表 {filing.id} 已开始签署意见,不能再改动其中的人员;请待其完成或被否决后再变更"
            "(第六条)",
            code="refiling_signed",
        )
    form = form_of(tx.read, platform, filing.form["other_media"] if filing else "", owners)
    if filing is None:
        fid = tx.next_id("filing", "F")
        filing = Filing(fid, platform.id, "refiling", OPEN, form, [], timestamp())
        tx.write.rpush(keys.platform_forms(platform.id), filing.id)
        detail = {"filing": filing.id, "kind": "refiling"}
        audit.append(tx, actor, "filing.open", platform=platform.id, detail=detail)
    pending = {**owners, "reason": why}
    filing = Filing(**{**filing.__dict__, "form": form, "pending": pending})
    tx.write.hset(keys.filing(filing.id), mapping=filing.stored())
    return filing


def pending_owners(r: redis.Redis, platform_id: str) -> dict | None:
    """The owners an open re-filing proposes, if any: shown beside the ones in charge."""
    found = next((f for f in of_platform(r, platform_id) if f.status == OPEN), None)
    return found.pending if found else None


def _check_pending_people(tx: Tx, pending: dict) -> None:
    for person in [pending["responsible"], *pending["admins"]]:
        if not tx.read.exists(keys.person(person)):
            raise Conflict(
                f"待生效的变更中人员 {person} 已不存在,不能完成此备案表;请否决后重新变更(第六条)",
                code="pending_person_missing",
            )


def _apply_pending_in(
    tx: Tx, actor: audit.Actor, current: platforms.Platform, pending: dict, why: str
) -> None:
    owners = {"responsible": pending["responsible"], "admins": pending["admins"]}
    platforms.write_owners_in(tx, actor, current, owners, why)
