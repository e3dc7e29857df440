"""Screening in the draft workflow: what each verdict does to a draft, its sign-offs, alerts."""

import json

import pytest

from app import screening
from app.core import alerts, audit
from app.core.errors import ContentBlocked, Forbidden
from app.drafts import lifecycle, rescreen, review
from tests.factories import actor, add_term, snapshot, submitted, text_draft, world

BLOCKED_TEXT = "欢迎参加网络赌博讲座"  # 网络赌博 is in obscenity_violence.txt; 远离赌博 is not here
SENSITIVE_TEXT = "关于实验室爆炸的情况说明"
WARN_TEXT = "娱乐圈新闻,报名请联系 13912345678"


def test_clean_draft_goes_to_review_with_its_result_stored(r):
    """A draft without hits reaches review; its result is readable for the version."""
    w = world(r)
    draft = submitted(r, w)
    assert draft.status == lifecycle.IN_REVIEW
    found = screening.result_for(r, draft.id)
    assert found.verdict == screening.PASS and found.version == 1
    assert found.content_hash == draft.content_hash
    assert found.lexicon_version == screening.rules().version


def test_block_moves_the_draft_to_blocked_and_tells_the_author_what_and_where(r):
    """Art. 10: the draft does not reach review; the error names category, word and place."""
    w = world(r)
    draft = text_draft(r, w, BLOCKED_TEXT)
    with pytest.raises(ContentBlocked) as caught:
        lifecycle.submit(r, actor(w.admin), draft.id)
    error = caught.value
    assert "淫秽、色情、赌博" in error.message and "「网络赌博」" in error.message
    assert "正文第 1 段" in error.message
    assert error.draft.status == lifecycle.BLOCKED == lifecycle.get(r, draft.id).status
    hit = error.screening.hits_with(screening.BLOCK)[0]
    assert BLOCKED_TEXT[hit.start : hit.end] == "网络赌博"
    assert error.to_dict()["screening"]["hits"][0]["category_zh"] == hit.category_zh
    assert screening.result_for(r, draft.id) == error.screening


def test_block_alerts_the_propaganda_department_in_the_same_change(r):
    w = world(r)
    draft = text_draft(r, w, BLOCKED_TEXT)
    with pytest.raises(ContentBlocked):
        lifecycle.submit(r, actor(w.admin), draft.id)
    [alert] = alerts.recent(r)
    assert (alert.kind, alert.draft, alert.platform) == ("prohibited_content", draft.id, w.platform)
    assert alert.detail["counts"] == {"obscenity_violence": 1}


def test_the_audit_trail_keeps_counts_and_lexicon_version_never_the_text(r):
    w = world(r)
    draft = text_draft(r, w, BLOCKED_TEXT)
    with pytest.raises(ContentBlocked):
        lifecycle.submit(r, actor(w.admin), draft.id)
    steps = list(audit.records(r, draft=draft.id))
    assert [s["action"] for s in steps] == ["draft.create", "draft.screen", "draft.block"]
    screen = steps[1]
    detail = json.loads(screen["detail"])
    assert detail == {
        "counts": {"obscenity_violence": 1},
        "lexicon_version": screening.rules().version,
        "verdict": "block",
        "version": 1,
    }
    assert "赌博" not in json.dumps(screen, ensure_ascii=False)
    assert steps[2]["via"] == "system" and steps[2]["decision"] == lifecycle.BLOCKED
    assert audit.verify(r).ok


def test_a_blocked_draft_fixed_by_its_author_goes_to_review(r):
    w = world(r)
    draft = text_draft(r, w, BLOCKED_TEXT)
    with pytest.raises(ContentBlocked):
        lifecycle.submit(r, actor(w.admin), draft.id)
    fixed = lifecycle.edit(r, actor(w.admin), draft.id, {"text": "欢迎参加远离赌博讲座"})
    assert fixed.status == lifecycle.DRAFT
    assert lifecycle.submit(r, actor(w.admin), draft.id).status == lifecycle.IN_REVIEW
    assert screening.result_for(r, draft.id, 1).verdict == screening.BLOCK
    assert screening.result_for(r, draft.id, 2).verdict == screening.PASS


def test_an_edit_in_review_is_screened_and_can_be_blocked(r):
    """A new version of a draft under review is screened before reviewers see it."""
    w = world(r)
    draft = submitted(r, w)
    with pytest.raises(ContentBlocked):
        lifecycle.edit(r, actor(w.admin), draft.id, {"text": BLOCKED_TEXT})
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    assert screening.result_for(r, draft.id).version == 2


def test_an_edit_before_submission_waits_for_submit(r):
    w = world(r)
    draft = text_draft(r, w)
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": BLOCKED_TEXT})
    assert screening.result_for(r, draft.id) is None
    assert lifecycle.get(r, draft.id).status == lifecycle.DRAFT


def test_escalate_adds_the_propaganda_sign_off_and_alerts(r):
    """Art. 11: screening's finding has the same effect as the author's flag."""
    w = world(r)
    draft = submitted(r, w, text=SENSITIVE_TEXT)
    assert draft.status == lifecycle.IN_REVIEW and draft.flags == frozenset()
    state = review.state(r, draft.id)
    assert [req.signoff for req in state.required] == [review.RESPONSIBLE, review.PROPAGANDA]
    assert "突发事件" in state.required[1].rule
    assert screening.result_for(r, draft.id).flags == {"emergency"}
    [alert] = alerts.recent(r)
    assert alert.kind == "sensitive_draft" and alert.draft == draft.id


def test_escalated_draft_needs_both_sign_offs_to_be_approved(r):
    w = world(r)
    draft = submitted(r, w, text=SENSITIVE_TEXT)
    first = review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert first.draft.status == lifecycle.IN_REVIEW and first.missing == [review.PROPAGANDA]
    second = review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    assert second.draft.status == lifecycle.APPROVED


def test_warn_goes_to_review_with_highlights_for_reviewers(r):
    """Art. 9 and personal data: reviewers see the hits; the sign-off chain is unchanged."""
    w = world(r)
    draft = submitted(r, w, text=WARN_TEXT)
    assert draft.status == lifecycle.IN_REVIEW
    assert [req.signoff for req in review.state(r, draft.id).required] == [review.RESPONSIBLE]
    found = screening.result_for(r, draft.id)
    assert found.verdict == screening.WARN
    assert {h.category for h in found.hits} == {"entertainment", "personal_data"}
    marked = [piece for piece, hits in screening.segments(WARN_TEXT, found.hits) if hits]
    assert marked == ["娱乐圈", "13912345678"]
    assert alerts.recent(r) == []


def test_a_refused_submission_is_not_screened(r):
    """Screening writes nothing when the submission itself is refused."""
    w = world(r)
    draft = text_draft(r, w, BLOCKED_TEXT)
    before = snapshot(r)
    with pytest.raises(Forbidden, match="作者"):
        lifecycle.submit(r, actor(w.other_admin), draft.id)
    assert snapshot(r) == before


def test_article_drafts_are_screened_field_by_field(r):
    w = world(r)
    content = {
        "title": "校园新闻",
        "digest": "报名请加微信",
        "content_html": '<p>活动</p><a href="https://shop.example.com">购买</a>',
        "cover_image": "https://mmbiz.qpic.cn/cover.jpg",
    }
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", content)
    lifecycle.submit(r, actor(w.admin), draft.id)
    found = screening.result_for(r, draft.id)
    assert {(h.field, h.part) for h in found.hits} == {("digest", "text"), ("content_html", "link")}


def approved(r, w, text: str) -> lifecycle.Draft:
    draft = submitted(r, w, text=text)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    return lifecycle.get(r, draft.id)


def test_recheck_with_unchanged_lexicons_writes_nothing(r, lexicons):
    w = world(r)
    draft = approved(r, w, "校园歌手大赛圆满结束")
    before = snapshot(r)
    assert rescreen.recheck(r, draft.id) == screening.result_for(r, draft.id)
    assert snapshot(r) == before


def test_recheck_after_a_lexicon_change_blocks_an_approved_draft(r, lexicons):
    """Before publishing: a term added since approval blocks the draft and alerts."""
    w = world(r)
    draft = approved(r, w, "校园歌手大赛圆满结束")
    old_version = screening.result_for(r, draft.id).lexicon_version
    add_term(lexicons, "other_prohibited", "歌手大赛")
    found = rescreen.recheck(r, draft.id)
    assert found.verdict == screening.BLOCK and found.lexicon_version != old_version
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    assert [a.kind for a in alerts.recent(r)] == ["prohibited_content"]
    assert screening.result_for(r, draft.id) == found


def test_recheck_adding_an_art11_topic_reopens_an_approved_draft(r, lexicons):
    w = world(r)
    draft = approved(r, w, "校园歌手大赛圆满结束")
    add_term(lexicons, "major_event", "歌手大赛")
    found = rescreen.recheck(r, draft.id)
    assert found.flags == {"major_event"}
    state = review.state(r, draft.id)
    assert state.draft.status == lifecycle.IN_REVIEW and state.missing == [review.PROPAGANDA]
    assert [a.kind for a in alerts.recent(r)] == ["sensitive_draft"]


def test_recheck_keeps_an_approved_draft_whose_sign_offs_already_cover_the_topic(r, lexicons):
    """On a level-1 platform the propaganda department signed already: nothing to reopen."""
    w = world(r, tier=1)
    draft = submitted(r, w, text="校园歌手大赛圆满结束")
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    add_term(lexicons, "major_event", "歌手大赛")
    rescreen.recheck(r, draft.id)
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED


def test_lexicon_change_takes_effect_without_restart(r, lexicons):
    """Editing a file changes the next screening's result and version in the same process."""
    w = world(r)
    first = screening.rules().version
    add_term(lexicons, "obscenity_violence", "歌手大赛")
    assert screening.rules().version != first
    draft = text_draft(r, w, "校园歌手大赛")
    with pytest.raises(ContentBlocked):
        lifecycle.submit(r, actor(w.admin), draft.id)


def test_deployment_policy_changes_what_a_category_does(r, lexicons):
    """A deployment can make entertainment block and switch personal data off."""
    policy = (lexicons / "policy.toml").read_text(encoding="utf-8")
    policy = policy.replace('entertainment = "warn"', 'entertainment = "block"')
    policy = policy.replace('personal_data = "warn"', 'personal_data = "off"')
    (lexicons / "policy.toml").write_text(policy, encoding="utf-8")
    w = world(r)
    draft = text_draft(r, w, WARN_TEXT)
    with pytest.raises(ContentBlocked) as caught:
        lifecycle.submit(r, actor(w.admin), draft.id)
    assert {h.category for h in caught.value.screening.hits} == {"entertainment"}
