"""Releasing false positives (放行): the sample lexicons let the college's campaigns through."""

import json

import pytest

from app import screening
from app.core import audit
from app.core.errors import Conflict, ContentBlocked, Forbidden, InvalidInput
from app.drafts import lifecycle, release, rescreen, review
from app.notify import draft_notices
from app.outbox import dispatch
from app.registry import people
from app.screening import lexicon_store
from tests.factories import OPERATOR, actor, add_term, snapshot, submitted, text_draft, world

# The college's own campaigns: each once blocked by the sample lexicons (issue 14, item 7).
CAMPAIGNS = [
    "禁毒宣传:远离K粉,珍爱生命",
    "国家安全教育周:警惕网络赌博陷阱,守护好自己的钱袋子",
    "学院开展揭批邪教主题班会",
    "期末考试严禁代考,违者按学籍管理规定处理",
]
# What the same words say when they are the harm itself.
HARMFUL = [
    ("出售K粉,量大从优,私信联系", "obscenity_violence"),
    ("网络赌博平台注册就送彩金,日赚千元", "obscenity_violence"),
    ("邪教组织欢迎你加入,保你全家平安", "cult_superstition"),
    ("四六级代考,包过,价格面议", "other_prohibited"),
    ("警惕网络赌博陷阱?不如来我们的网络赌博平台", "obscenity_violence"),
]


@pytest.mark.parametrize("text", CAMPAIGNS)
def test_the_colleges_campaigns_pass_the_sample_lexicons(text):
    assert screening.screen_text(text).verdict != screening.BLOCK


@pytest.mark.parametrize(("text", "category"), HARMFUL)
def test_their_harmful_counterparts_are_still_blocked(text, category):
    found = screening.screen_text(text)
    assert found.verdict == screening.BLOCK
    assert category in {h.category for h in found.hits_with(screening.BLOCK)}


# ---- releasing a blocked draft ------------------------------------------------------------

# A campaign the sample lexicons still block: 认清K粉的危害 is no whitelisted phrase.
FALSE_POSITIVE = "禁毒讲座:认清K粉的危害,守护青春"
PHRASE = "认清K粉的危害"
REASON = "禁毒宣传,并非售卖"


def blocked(r, w, text: str = FALSE_POSITIVE) -> lifecycle.Draft:
    draft = text_draft(r, w, text)
    with pytest.raises(ContentBlocked):
        lifecycle.submit(r, actor(w.admin), draft.id)
    return lifecycle.get(r, draft.id)


def test_a_release_sends_the_draft_to_review_with_its_hits_marked_who_and_why(r):
    """Reviewers see the released hit as released, by whom and why; the step is audited."""
    w = world(r)
    draft = blocked(r, w)
    done = release.release(r, actor(w.propaganda), draft.id, REASON)
    assert done.status == lifecycle.IN_REVIEW == lifecycle.get(r, draft.id).status
    found = screening.result_for(r, draft.id)
    [hit] = found.hits
    assert (hit.term, hit.released, hit.verdict) == ("K粉", True, screening.WARN)
    assert found.verdict != screening.BLOCK
    summary = found.summary_zh()
    assert "「K粉」(已放行)" in summary and "宣传部张部长" in summary and REASON in summary
    assert review.state(r, draft.id).missing == [review.RESPONSIBLE]
    [record] = audit.records(r, action="draft.release")
    assert (record["person"], record["reason"], record["decision"]) == (
        w.propaganda,
        REASON,
        lifecycle.IN_REVIEW,
    )
    assert json.loads(record["detail"]) == {
        "released": {"obscenity_violence": 1},
        "whitelisted": 0,
    }
    assert audit.verify(r).ok


def test_the_released_draft_is_approved_and_stays_released_when_screened_again(r, lexicons):
    """recheck (before publishing) keeps the release; a new blocking term still blocks."""
    w = world(r)
    draft = blocked(r, w)
    release.release(r, actor(w.propaganda), draft.id, REASON)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    add_term(lexicons, "entertainment", "综艺晚会")  # another lexicon version
    found = rescreen.recheck(r, draft.id)
    assert [h.released for h in found.hits] == [True]
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    add_term(lexicons, "rumour", "守护青春")  # a new block the release did not cover
    rescreen.recheck(r, draft.id)
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED


def test_a_draft_released_again_is_reviewed_again_its_old_sign_off_void(r, lexicons):
    """Approved, then blocked by a new term and released: a new review round, in which the
    sign-off given before the block vouches for nothing (art. 14)."""
    w = world(r)
    draft = blocked(r, w)
    release.release(r, actor(w.propaganda), draft.id, REASON)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    add_term(lexicons, "rumour", "守护青春")
    rescreen.recheck(r, draft.id)
    release.release(r, actor(w.propaganda), draft.id, REASON)

    current = review.state(r, draft.id)
    assert (current.draft.status, current.given, current.missing) == (
        lifecycle.IN_REVIEW,
        {},
        [review.RESPONSIBLE],
    )
    done = review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert done.draft.status == lifecycle.APPROVED


def test_an_edited_version_is_screened_afresh(r):
    w = world(r)
    draft = blocked(r, w)
    release.release(r, actor(w.propaganda), draft.id, REASON)
    with pytest.raises(ContentBlocked):
        lifecycle.edit(r, actor(w.admin), draft.id, {"text": FALSE_POSITIVE + "!"})


def test_whitelisting_adds_the_phrase_so_the_next_campaign_passes(r, lexicons):
    """One option also whitelists the phrase around the hit: audited, a new lexicon version."""
    w = world(r)
    draft = blocked(r, w)
    before = screening.rules().version
    release.release(r, actor(w.propaganda), draft.id, REASON, whitelist=True)
    assert PHRASE in (lexicons / "obscenity_violence.allow.txt").read_text(encoding="utf-8")
    after = screening.rules().version
    assert after != before
    [record] = audit.records(r, action="lexicon.edit")
    assert record["person"] == w.propaganda
    assert record["decision"] == after
    detail = json.loads(record["detail"])
    assert (detail["list"], detail["allow"], detail["added"]) == (
        "obscenity_violence",
        True,
        [PHRASE],
    )
    [entry] = lexicon_store.history(r)
    assert (entry["version"], entry["person"]) == (after, w.propaganda)
    assert screening.screen_text("下周再办一场讲座:认清K粉的危害").verdict == screening.PASS
    assert screening.screen_text("认清K粉的危害?不如出售K粉").verdict == screening.BLOCK
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW


def test_a_term_without_words_around_it_is_not_whitelisted_and_nothing_changes(r, lexicons):
    """Whitelisting K粉 itself would switch the term off everywhere: refused, nothing written."""
    w = world(r)
    draft = blocked(r, w, "本期关键词:K粉。")
    allow_file = (lexicons / "obscenity_violence.allow.txt").read_bytes()
    state = snapshot(r)
    with pytest.raises(InvalidInput) as caught:
        release.release(r, actor(w.propaganda), draft.id, REASON, whitelist=True)
    assert "「K粉」前后没有可一并加入白名单的文字" in caught.value.message
    assert "\n" not in caught.value.message
    assert snapshot(r) == state
    assert (lexicons / "obscenity_violence.allow.txt").read_bytes() == allow_file


@pytest.mark.parametrize("status", ["draft", "in_review"])
def test_releasing_a_draft_that_is_not_blocked_is_one_line_and_changes_nothing(r, status):
    w = world(r)
    draft = text_draft(r, w) if status == "draft" else submitted(r, w)
    state = snapshot(r)
    with pytest.raises(Conflict) as caught:
        release.release(r, actor(w.propaganda), draft.id, REASON)
    assert caught.value.message == (
        f"稿件 {draft.id} 当前为「{lifecycle.STATUSES[status]}」,没有被拦截,无需放行"
    )
    assert snapshot(r) == state


def test_only_the_propaganda_department_releases_and_never_its_own_draft(r):
    """The responsible person or the author cannot wave a block through; nothing changes."""
    w = world(r)
    draft = blocked(r, w)
    state = snapshot(r)
    for person in (w.responsible, w.admin):
        with pytest.raises(Forbidden):
            release.release(r, actor(person), draft.id, REASON)
    people.grant_college_role(r, OPERATOR, w.admin, "propaganda")
    state = snapshot(r)
    with pytest.raises(Forbidden) as caught:
        release.release(r, actor(w.admin), draft.id, REASON)
    assert caught.value.message == f"不能放行自己的稿件 {draft.id}"
    assert snapshot(r) == state


def test_a_release_needs_a_reason(r):
    w = world(r)
    draft = blocked(r, w)
    with pytest.raises(InvalidInput, match="放行理由不能为空"):
        release.release(r, actor(w.propaganda), draft.id, "  ")
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED


def test_a_release_is_routed_like_a_submission_and_the_author_is_told_why(r):
    w = world(r)
    draft = blocked(r, w)
    release.release(r, actor(w.propaganda), draft.id, REASON)
    [record] = audit.records(r, action="draft.release")
    jobs = {job for _, job, _ in dispatch.route(record)}
    assert {"notify_reviewers", "notify_author", "read_pictures"} <= jobs  # and the alert, if any
    notice = draft_notices.author_notice(lifecycle.get(r, draft.id), record)
    assert "已放行" in notice.text and REASON in notice.text
