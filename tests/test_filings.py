"""The filing form and its five-step sign-off chain (art. 6 and the attachment)."""

from datetime import date

import pytest

from app.core import audit
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.registry import filings, people, platforms
from tests.factories import OPERATOR, actor, confirm_office, snapshot, world

TODAY = date(2026, 11, 26)


def opinion(n: int = 0, decision: str = "agree", signed_on: str = "2026-11-20") -> dict:
    return {
        "decision": decision,
        "opinion": "同意开设",
        "signer": f"签字人{n}",
        "signed_on": signed_on,
    }


def sign_all(r, fid: str, upto: int = len(filings.STEPS)) -> filings.Filing:
    confirm_office(r, fid)
    filing = filings.get(r, fid)
    for n, step in enumerate(filings.STEPS[:upto]):
        filing = filings.sign_step(r, OPERATOR, fid, step.name, opinion(n), today=TODAY)
    return filing


@pytest.fixture
def new(r):
    w = world(r, status="filing")
    return w, filings.open_form(r, OPERATOR, w.platform, other_media="计算机学院微博")


def test_the_chain_is_the_attachments_five_opinions_in_order():
    """The chain names the attachment's signers in the order they sign."""
    assert [s.name for s in filings.STEPS] == [
        "unit_head",
        "propaganda",
        "unit_leader",
        "propaganda_leader",
        "party_secretary",
    ]


def test_a_form_holds_every_field_of_the_attachment(r, new):
    """Unit, name, account, other media, purpose, administrators and responsible person."""
    w, filing = new
    form = filing.form
    assert set(form) >= {"unit", "platform_name", "account", "other_media", "purpose"}
    assert form["other_media"] == "计算机学院微博"
    assert {"name", "title", "phone", "qq"} <= set(form["admins"][0])
    assert set(form["responsible"]) == {"name", "phone", "email"}
    assert form["responsible"]["name"] == people.get(r, w.responsible).name


def test_the_platform_becomes_active_only_with_the_last_opinion(r, new):
    """Four opinions leave the platform in filing; the fifth activates it in the same change."""
    w, filing = new
    sign_all(r, filing.id, upto=4)
    assert platforms.get(r, w.platform).status == platforms.FILING
    done = filings.sign_step(r, OPERATOR, filing.id, "party_secretary", opinion(5), today=TODAY)
    assert done.status == filings.COMPLETE
    assert platforms.get(r, w.platform).status == platforms.ACTIVE
    actions = [rec["action"] for rec in audit.records(r, platform=w.platform)]
    assert actions[-2:] == ["filing.sign", "platform.status"]


def test_an_opinion_out_of_order_is_refused(r, new):
    """The propaganda department's opinion cannot come before the unit head's."""
    _, filing = new
    before = snapshot(r)
    with pytest.raises(Conflict):
        filings.sign_step(r, OPERATOR, filing.id, "propaganda", opinion(), today=TODAY)
    assert snapshot(r) == before


def test_a_disagreeing_opinion_ends_the_form_and_the_platform_stays_in_filing(r, new):
    w, filing = new
    refused = filings.sign_step(
        r, OPERATOR, filing.id, "unit_head", opinion(decision="disagree"), today=TODAY
    )
    assert refused.status == filings.REFUSED
    with pytest.raises(Conflict):
        filings.sign_step(r, OPERATOR, filing.id, "propaganda", opinion(), today=TODAY)
    assert platforms.get(r, w.platform).status == platforms.FILING


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("opinion", ""),
        ("signer", ""),
        ("signed_on", "2026-13-01"),
        ("signed_on", "2026-11-27"),
        ("decision", "maybe"),
    ],
)
def test_each_field_of_an_opinion_is_checked(r, new, field, value):
    """Opinion and signer are required, the date real and not in the future."""
    _, filing = new
    with pytest.raises(InvalidInput):
        filings.sign_step(
            r, OPERATOR, filing.id, "unit_head", {**opinion(), field: value}, today=TODAY
        )


def test_an_opinion_cannot_be_dated_before_the_one_before_it(r, new):
    _, filing = new
    filings.sign_step(r, OPERATOR, filing.id, "unit_head", opinion(), today=TODAY)
    with pytest.raises(InvalidInput) as error:
        filings.sign_step(
            r, OPERATOR, filing.id, "propaganda", opinion(signed_on="2026-11-19"), today=TODAY
        )
    assert error.value.field == "signed_on"


def test_only_the_propaganda_department_records_opinions(r, new):
    w, filing = new
    with pytest.raises(Forbidden):
        filings.sign_step(r, actor(w.responsible), filing.id, "unit_head", opinion(), today=TODAY)
    filings.sign_step(r, actor(w.propaganda), filing.id, "unit_head", opinion(), today=TODAY)


def test_one_open_form_per_platform(r, new):
    w, _ = new
    with pytest.raises(Conflict):
        filings.open_form(r, OPERATOR, w.platform)


def test_a_refiling_of_a_running_platform_leaves_it_running(r):
    """A form opened on an active platform is a re-filing; completing it changes no status."""
    w = world(r)
    filing = filings.open_form(r, OPERATOR, w.platform)
    assert filing.kind == "refiling"
    assert sign_all(r, filing.id).status == filings.COMPLETE
    assert platforms.get(r, w.platform).status == platforms.ACTIVE


def test_a_closed_platform_gets_no_form(r):
    w = world(r, status="closed")
    with pytest.raises(Conflict):
        filings.open_form(r, OPERATOR, w.platform)


def test_an_office_warning_must_be_confirmed_before_the_propaganda_department_agrees(r, new):
    """Art. 12-13: 李书记 has no title on file; the propaganda opinion waits for a confirmation."""
    w, filing = new
    assert filing.office_unconfirmed
    filings.sign_step(r, OPERATOR, filing.id, "unit_head", opinion(), today=TODAY)
    before = snapshot(r)
    with pytest.raises(Conflict, match="第十二、十三条") as refused:
        filings.sign_step(r, OPERATOR, filing.id, "propaganda", opinion(), today=TODAY)
    assert refused.value.code == "office_unconfirmed" and "\n" not in refused.value.message
    assert snapshot(r) == before
    with pytest.raises(Forbidden):
        filings.confirm_office(r, actor(w.responsible), filing.id, "自己确认")
    confirmed = filings.confirm_office(r, actor(w.propaganda), filing.id, "已电话核实")
    assert confirmed.form["office_confirmed"]["by"] == w.propaganda
    with pytest.raises(Conflict, match="已确认过"):
        filings.confirm_office(r, actor(w.propaganda), filing.id)
    filings.sign_step(r, OPERATOR, filing.id, "propaganda", opinion(), today=TODAY)
    record = [
        x for x in audit.records(r, platform=w.platform) if x["action"] == "filing.confirm_office"
    ]
    assert record[0]["reason"] == "已电话核实" and record[0]["person"] == w.propaganda


def test_a_disagreement_needs_no_confirmation(r):
    """Refusing is always possible; a refused form takes no confirmation any more."""
    w = world(r, status="filing")
    filing = filings.open_form(r, OPERATOR, w.platform)
    filings.sign_step(r, OPERATOR, filing.id, "unit_head", opinion(), today=TODAY)
    refused = filings.sign_step(
        r, OPERATOR, filing.id, "propaganda", opinion(decision="disagree"), today=TODAY
    )
    assert refused.status == filings.REFUSED
    with pytest.raises(Conflict, match="不能再确认"):
        filings.confirm_office(r, OPERATOR, filing.id)
