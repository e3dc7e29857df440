"""Units publishing on the college's official account (art. 14, second sentence), and the
propaganda department reviewing every platform through one home binding (issue 14, item 9).

A unit's administrator contributes to a tier-1 platform; the unit's first responsible
person signs first, then the propaganda department. Driven through the domain, the chat
(the sandbox WeChat, the dispatcher and a worker), the API and the console.
"""

import pytest

from app.channels import apitokens, chat
from app.core import audit
from app.core.errors import Conflict, Forbidden
from app.core.masterkey import load_keyring
from app.drafts import lifecycle, review
from app.registry import bindcodes, platforms
from app.web import create_app
from tests.console_helpers import signed_in
from tests.factories import KEYRING, OPERATOR, actor, snapshot, world
from tests.notify_helpers import sandbox_office  # noqa: F401

COLLEGE = "xy-wx"  # the college's own account: tier 1


def contribution(r, unit, text="计算机学院运动会通知"):
    draft = lifecycle.create(
        r, actor(unit.admin), COLLEGE, "text", {"text": text}, contributed_from=unit.platform
    )
    return lifecycle.submit(r, actor(unit.admin), draft.id)


@pytest.fixture
def both(r):
    """A secondary college's platform (the unit) and the college's tier-1 account."""
    unit = world(r, tier=2, platform_id="jsj-wx")
    return unit, world(r, tier=1, platform_id=COLLEGE)


def test_a_contribution_needs_the_units_responsible_person_then_the_propaganda_department(r, both):
    unit, college = both
    draft = contribution(r, unit)
    state = review.state(r, draft.id)
    assert [(q.signoff, q.platform) for q in state.required][0] == ("responsible", unit.platform)
    assert state.missing == ["responsible", "propaganda"] and state.due == ["responsible"]
    assert not review.can_sign(r, college.responsible, platforms.get(r, COLLEGE), draft)
    before = snapshot(r)
    with pytest.raises(Conflict, match="须先经第一责任人审核") as early:
        review.approve(r, actor(unit.propaganda), draft.id, draft.content_hash)
    assert early.value.code == "not_yet" and snapshot(r) == before
    with pytest.raises(Forbidden):  # the tier-1 platform's own responsible person is not the unit's
        review.approve(r, actor(college.responsible), draft.id, draft.content_hash)
    assert review.approve(r, actor(unit.responsible), draft.id, draft.content_hash).due == [
        "propaganda"
    ]
    done = review.approve(r, actor(unit.propaganda), draft.id, draft.content_hash)
    assert done.draft.status == lifecycle.APPROVED
    opened = [rec for rec in audit.records(r, draft=draft.id) if rec["action"] == "draft.approve"]
    assert '"opened": ["propaganda"]' in opened[0]["detail"]


def test_only_a_tier1_platform_takes_contributions_and_only_from_the_units_administrators(r, both):
    unit, _ = both
    other = world(r, tier=2, platform_id="wy-wx")
    before = snapshot(r)
    with pytest.raises(Forbidden, match="第十四条") as refused:
        lifecycle.create(
            r, actor(unit.admin), other.platform, "text", {"text": "x"}, contributed_from="jsj-wx"
        )
    assert refused.value.code == "not_tier1"
    with pytest.raises(Forbidden, match="管理员"):
        lifecycle.create(
            r, actor(other.admin), COLLEGE, "text", {"text": "x"}, contributed_from="jsj-wx"
        )
    assert snapshot(r) == before


def test_the_contributor_withdraws_through_the_units_platform(r, both):
    unit, _ = both
    draft = contribution(r, unit)
    assert lifecycle.withdraw(r, actor(unit.admin), draft.id).status == lifecycle.WITHDRAWN


# ---- chat, through the sandbox: item 4 and the home binding of item 9 -----------------------


def say(o, person: str, words: str) -> str:
    """The person writes on the unit's account (the only one they are bound on)."""
    message = chat.Inbound(o.openids[person], "text", person=person, text=words, authenticated=True)
    return chat.respond(o.r, load_keyring(o.settings), platforms.get(o.r, o.w.platform), message)


def asked(o, person: str) -> list[str]:
    return [m["content"] for m in o.received(person, "客服消息") if "【待审核】" in m["content"]]


def test_a_contribution_in_chat_reaches_each_reviewer_in_turn_on_their_home_binding(
    sandbox_office,  # noqa: F811
):
    """Everyone is bound on the unit's account only; the college account has nobody bound.
    The responsible person is asked first, the propaganda reviewer only after, both on the
    unit's account, and each answers there."""
    o = sandbox_office
    world(o.r, tier=1, platform_id=COLLEGE)
    for person in (o.w.admin, o.w.responsible, o.w.propaganda):
        o.bind(person)
        o.writes(person)
    reply = say(o, o.w.admin, f"投稿到 {COLLEGE} 学院运动会下周开幕")
    assert "已提交稿件 D1" in reply and "第一责任人、党委宣传部" in reply
    o.settle()
    assert len(asked(o, o.w.responsible)) == 1 and asked(o, o.w.propaganda) == []
    assert "须先经第一责任人审核" in say(o, o.w.propaganda, "同意 D1")
    assert "D1" in say(o, o.w.responsible, "待审")
    assert "还需:党委宣传部审核" in say(o, o.w.responsible, "同意 D1")
    o.settle()
    (request,) = asked(o, o.w.propaganda)
    assert "D1" in request and "党委宣传部身份" in request
    assert "D1" in say(o, o.w.propaganda, "待审")
    assert "审核已全部通过" in say(o, o.w.propaganda, "同意 D1")
    o.settle()
    assert any("审核通过" in m["content"] for m in o.received(o.w.admin, "客服消息"))
    draft = lifecycle.get(o.r, "D1")
    assert (draft.platform, draft.contributed_from) == (COLLEGE, o.w.platform)


def test_the_home_binding_can_be_moved_and_alerts_follow_it(sandbox_office):  # noqa: F811
    o = sandbox_office
    o.bind(o.w.propaganda)
    assert bindcodes.home_of(o.r, o.w.propaganda) == (o.w.platform, o.openids[o.w.propaganda])
    assert "主绑定" in say(o, o.w.propaganda, "设为主绑定")
    assert [rec["action"] for rec in audit.records(o.r, action="binding.home")] == ["binding.home"]
    assert bindcodes.reach(o.r, o.w.propaganda, "any-wx") == bindcodes.home_of(o.r, o.w.propaganda)
    other = world(o.r, tier=2, platform_id="wy-wx")
    draft = lifecycle.create(o.r, actor(other.admin), other.platform, "text", {"text": "通报"})
    review.set_flag(o.r, actor(other.admin), draft.id, "emergency")
    o.writes(o.w.propaganda)
    o.settle()
    alerts = [m["content"] for m in o.received(o.w.propaganda) if "告警" in m["content"]]
    assert alerts and "wy-wx" in alerts[0]


def test_someone_elses_binding_cannot_be_made_ones_home(r, both):
    unit, _ = both
    code = bindcodes.issue(r, KEYRING, OPERATOR, unit.admin, unit.platform, ttl=600)
    bindcodes.redeem(r, KEYRING, unit.platform, "oAdminOpenid000000001", code)
    before = snapshot(r)
    with pytest.raises(Forbidden):
        bindcodes.set_home(r, actor(unit.responsible), unit.platform, "oAdminOpenid000000001")
    assert snapshot(r) == before


# ---- the API: the platform field names the tier-1 account ---------------------------------


def test_a_cms_contributes_through_the_platform_field(r, both, settings):
    unit, _ = both
    _, secret = apitokens.issue(r, OPERATOR, unit.admin, [unit.platform])
    client = create_app(settings).test_client()
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "cms-1"}
    body = {"platform": COLLEGE, "kind": "text", "content": {"text": "学院科技节通知"}}
    made = client.post("/api/v1/drafts", json=body, headers=headers)
    assert made.status_code == 201, made.get_json()
    answer = made.get_json()
    assert (answer["platform"], answer["contributed_from"]) == (COLLEGE, unit.platform)
    assert answer["review"]["missing"] == ["responsible", "propaganda"]
    assert client.get(f"/api/v1/drafts/{answer['id']}", headers=headers).status_code == 200
    other = world(r, tier=2, platform_id="wy-wx")
    refused = client.post(
        "/api/v1/drafts",
        json={**body, "platform": other.platform},
        headers={**headers, "Idempotency-Key": "cms-2"},
    )
    assert refused.status_code == 403 and refused.get_json()["error"] == "out_of_scope"


# ---- the console: listed for both reviewers ---------------------------------------------------


def test_the_console_lists_a_contribution_for_each_reviewer_in_turn(r, both, settings):
    unit, _ = both
    draft = contribution(r, unit)
    client, token = signed_in(settings, r, unit.responsible)
    assert draft.id in client.get("/console/drafts").data.decode()
    page = client.post(
        f"/console/drafts/{draft.id}", data={"csrf": token, "seen_hash": draft.content_hash}
    )
    assert page.status_code == 302
    propaganda, ptoken = signed_in(settings, r, unit.propaganda)
    listed = propaganda.get("/console/drafts").data.decode()
    assert draft.id in listed
    propaganda.post(
        f"/console/drafts/{draft.id}", data={"csrf": ptoken, "seen_hash": draft.content_hash}
    )
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    outsider = world(r, tier=2, platform_id="wy-wx")
    stranger, _ = signed_in(settings, r, outsider.responsible)
    assert stranger.get(f"/console/drafts/{draft.id}").status_code == 403


def test_other_platforms_drafts_stay_out_of_reach_of_everyone_but_the_propaganda_department(
    r, both
):
    """The attack: a unit's responsible person names a tier-1 draft that is not their unit's,
    in chat on their own account; it is not found, and nothing changes."""
    unit, college = both
    own = lifecycle.create(r, actor(college.admin), COLLEGE, "text", {"text": "学校通知"})
    own = lifecycle.submit(r, actor(college.admin), own.id)
    code = bindcodes.issue(r, KEYRING, OPERATOR, unit.responsible, unit.platform, ttl=600)
    bindcodes.redeem(r, KEYRING, unit.platform, "oUnitResp00000000001", code)
    message = chat.Inbound(
        "oUnitResp00000000001",
        "text",
        person=unit.responsible,
        text=f"同意 {own.id}",
        authenticated=True,
    )
    before = snapshot(r)
    reply = chat.respond(r, KEYRING, platforms.get(r, unit.platform), message)
    assert f"本公众号没有编号为 {own.id} 的稿件" in reply
    assert lifecycle.get(r, own.id).status == lifecycle.IN_REVIEW
    assert {k for k in snapshot(r) if b"audit" not in k} == {k for k in before if b"audit" not in k}
