"""The sign-off policy, one test per rule, and approving/rejecting drafts."""

import pytest

from app.core.errors import Conflict, Forbidden, InvalidInput
from app.drafts import lifecycle, review
from app.registry import owners, people
from app.registry.platforms import Platform
from tests.factories import actor, refiled, snapshot, submitted, world


def platform_of_tier(tier: int) -> Platform:
    return Platform(
        id="p",
        name="p",
        kind="wechat",
        tier=tier,
        unit="U1",
        supervising_unit="U2",
        responsible="P1",
        admins=frozenset({"P2"}),
        status="active",
        status_reason="",
        appid="",
        account="",
        purpose="",
        created_at="",
        updated_at="",
    )


def draft_with(flags=()) -> lifecycle.Draft:
    return lifecycle.Draft(
        id="D1",
        platform="p",
        author="P2",
        kind="text",
        status="in_review",
        status_reason="",
        version=1,
        content_hash="h",
        flags=frozenset(flags),
        scheduled_at="",
        created_at="",
        updated_at="",
    )


def signoffs(tier: int, flags=()) -> list[str]:
    return [
        req.signoff for req in review.required_signoffs(platform_of_tier(tier), draft_with(flags))
    ]


def test_rule_responsible_person_signs_every_draft():
    """Art. 14: the first responsible person's sign-off is required on every tier."""
    for tier in (1, 2, 3):
        assert signoffs(tier)[0] == "responsible"


def test_rule_tier_two_and_three_need_only_the_responsible_person():
    """Without art. 11 flags, a level-2 or level-3 platform needs only its responsible person."""
    assert signoffs(2) == ["responsible"]
    assert signoffs(3) == ["responsible"]


def test_rule_tier_one_needs_the_propaganda_department():
    """Art. 14: on the college's own (level-1) platform the propaganda department signs too."""
    assert signoffs(1) == ["responsible", "propaganda"]


@pytest.mark.parametrize("flag", ["major_event", "emergency", "sensitive_issue"])
def test_rule_art11_topics_need_the_propaganda_department(flag):
    """Art. 11: major events, emergencies and sensitive issues add the propaganda department."""
    assert signoffs(3, [flag]) == ["responsible", "propaganda"]


def test_rule_propaganda_department_is_required_once_whatever_the_reasons():
    """Tier 1 and an art. 11 flag together still need one propaganda sign-off, with both reasons."""
    required = review.required_signoffs(platform_of_tier(1), draft_with(["emergency"]))
    assert [req.signoff for req in required] == ["responsible", "propaganda"]
    assert "第十四条" in required[1].rule and "第十一条" in required[1].rule


def test_rule_flags_given_explicitly_override_the_drafts_own():
    """Flags found by screening, passed in, count as the draft's own would."""
    required = review.required_signoffs(
        platform_of_tier(2), draft_with(), frozenset({"sensitive_issue"})
    )
    assert [req.signoff for req in required] == ["responsible", "propaganda"]


def test_responsible_approval_approves_a_tier_two_draft(r):
    """On a level-2 platform the responsible person's approval makes the draft approved."""
    w = world(r)
    draft = submitted(r, w)
    state = review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert state.complete
    assert lifecycle.get(r, draft.id).status == "approved"


def test_tier_one_needs_both_sign_offs_in_either_order(r):
    """On a level-1 platform one sign-off leaves the draft in review; the second approves it."""
    w = world(r, tier=1)
    draft = submitted(r, w)
    first = review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    assert first.missing == ["responsible"]
    assert lifecycle.get(r, draft.id).status == "in_review"
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == "approved"


def test_self_approval_is_refused(r):
    """Nobody approves their own draft, even when they also hold a reviewer role."""
    w = world(r)
    people.grant_college_role(r, actor(w.propaganda), w.admin, "propaganda")
    draft = submitted(r, w)
    before = snapshot(r)
    with pytest.raises(Forbidden, match="不能审核自己"):
        review.approve(r, actor(w.admin), draft.id, draft.content_hash)
    assert snapshot(r) == before


def test_stale_approval_after_an_edit_is_refused(r):
    """An approval for the version the reviewer saw is refused once the draft has changed."""
    w = world(r)
    draft = submitted(r, w)
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": "修改后的正文"})
    with pytest.raises(Conflict, match="已修改") as refused:
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert refused.value.code == "stale"
    assert lifecycle.get(r, draft.id).status == "in_review"


def test_edit_voids_earlier_approvals(r):
    """A new version needs every sign-off again: one given for the old version does not count."""
    w = world(r, tier=1)
    draft = submitted(r, w)
    review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    edited = lifecycle.edit(r, actor(w.admin), draft.id, {"text": "第二版"})
    assert review.state(r, draft.id).missing == ["responsible", "propaganda"]
    review.approve(r, actor(w.responsible), draft.id, edited.content_hash)
    assert lifecycle.get(r, draft.id).status == "in_review"


def test_editing_an_approved_draft_sends_it_back_to_review(r):
    """Changing an approved draft puts it back in review with no valid sign-off."""
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    edited = lifecycle.edit(r, actor(w.admin), draft.id, {"text": "通过后又改"})
    assert edited.status == "in_review"
    assert not review.state(r, draft.id).complete


def test_approving_a_withdrawn_draft_says_why(r):
    """A draft no longer in review cannot be approved, and the message names its status."""
    w = world(r)
    draft = submitted(r, w)
    lifecycle.withdraw(r, actor(w.admin), draft.id)
    with pytest.raises(Conflict, match="已撤回"):
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)


def test_only_required_reviewers_may_approve(r):
    """A fellow administrator, not being a reviewer, cannot sign off a colleague's draft."""
    w = world(r)
    draft = submitted(r, w)
    with pytest.raises(Forbidden, match="不是稿件"):
        review.approve(r, actor(w.other_admin), draft.id, draft.content_hash)


def test_propaganda_reviewer_is_not_needed_on_tier_two(r):
    """A propaganda reviewer whose sign-off is not required cannot approve in its place."""
    w = world(r)
    draft = submitted(r, w)
    with pytest.raises(Forbidden):
        review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)


def test_approving_twice_is_refused(r):
    """The same reviewer's second approval of the same version is refused."""
    w = world(r, tier=1)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    with pytest.raises(Conflict, match="已审核通过"):
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)


def test_reject_needs_a_reason_and_records_it(r):
    """Rejection without a reason is refused; with one, the draft is rejected with that reason."""
    w = world(r)
    draft = submitted(r, w)
    with pytest.raises(InvalidInput):
        review.reject(r, actor(w.responsible), draft.id, draft.content_hash, "  ")
    rejected = review.reject(r, actor(w.responsible), draft.id, draft.content_hash, "数据有误")
    assert rejected.status == "rejected"
    assert lifecycle.get(r, draft.id).status_reason == "数据有误"


def test_flag_after_approval_reopens_review_for_the_propaganda_department(r):
    """Flagging an approved draft as an emergency sends it to the propaganda department."""
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    state = review.set_flag(r, actor(w.responsible), draft.id, "emergency")
    assert state.draft.status == "in_review"
    assert state.missing == ["propaganda"]
    review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == "approved"


def test_only_the_propaganda_department_clears_a_flag(r):
    """The author may flag a draft but not clear the flag; the propaganda department may."""
    w = world(r)
    draft = submitted(r, w, flags=("major_event",))
    with pytest.raises(Forbidden):
        review.set_flag(r, actor(w.admin), draft.id, "major_event", on=False)
    state = review.set_flag(r, actor(w.propaganda), draft.id, "major_event", on=False)
    assert state.missing == ["responsible"]


def test_clearing_the_last_extra_requirement_approves_a_fully_signed_draft(r):
    """Clearing a flag approves a draft that already has every sign-off still required."""
    w = world(r)
    draft = submitted(r, w, flags=("major_event",))
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == "in_review"
    state = review.set_flag(r, actor(w.propaganda), draft.id, "major_event", on=False)
    assert state.draft.status == "approved"
    assert lifecycle.get(r, draft.id).status == "approved"


def test_one_person_gives_one_sign_off_even_with_both_roles(r):
    """On a level-1 platform a responsible person who is also a propaganda reviewer signs once."""
    w = world(r, tier=1)
    people.grant_college_role(r, actor(w.propaganda), w.responsible, "propaganda")
    draft = submitted(r, w)
    state = review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert list(state.given) == ["responsible"] and state.missing == ["propaganda"]
    with pytest.raises(Conflict, match="已审核通过"):
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == "approved"


def test_a_former_responsible_persons_sign_off_is_not_claimed_by_the_new_one(r):
    """After a change of responsible person, the new one is told the version is already signed."""
    w = world(r, tier=1)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    newcomer = people.create(r, actor(w.propaganda), "新书记")
    refiled(r, owners.set_responsible(r, actor(w.propaganda), w.platform, newcomer.id, "调整"))
    with pytest.raises(Conflict, match="已有第一责任人审核通过"):
        review.approve(r, actor(newcomer.id), draft.id, draft.content_hash)
