"""Drafts: every allowed and forbidden transition, driven through the real entry points."""

import itertools

import pytest

from app.core import audit
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.drafts import lifecycle, review, suspension
from app.registry import owners
from tests.factories import actor, refiled, snapshot, text_draft, world

SYSTEM = audit.Actor.system("test")

# The state machine as the foundation issue specifies it, written out independently of the code.
EXPECTED = {
    ("draft", "submit"): "in_review",
    ("draft", "edit"): "draft",
    ("draft", "withdraw"): "withdrawn",
    ("draft", "block"): "blocked",
    ("in_review", "edit"): "in_review",
    ("in_review", "approve"): "approved",
    ("in_review", "reject"): "rejected",
    ("in_review", "withdraw"): "withdrawn",
    ("in_review", "block"): "blocked",
    ("approved", "edit"): "in_review",
    ("approved", "reject"): "rejected",
    ("approved", "withdraw"): "withdrawn",
    ("approved", "block"): "blocked",
    ("approved", "start_publishing"): "publishing",
    ("publishing", "publish"): "published",
    ("publishing", "fail"): "failed",
    ("rejected", "edit"): "draft",
    ("rejected", "withdraw"): "withdrawn",
    ("blocked", "edit"): "draft",
    ("blocked", "withdraw"): "withdrawn",
    ("failed", "retry"): "approved",
    ("failed", "edit"): "draft",
    ("failed", "withdraw"): "withdrawn",
}
ACTIONS = ("submit", "edit", "withdraw", "approve", "reject", "block")
ACTIONS += ("start_publishing", "publish", "fail", "retry")

# How to bring a fresh draft into each status, as a list of actions.
PATHS = {
    "draft": [],
    "in_review": ["submit"],
    "approved": ["submit", "approve"],
    "publishing": ["submit", "approve", "start_publishing"],
    "published": ["submit", "approve", "start_publishing", "publish"],
    "failed": ["submit", "approve", "start_publishing", "fail"],
    "rejected": ["submit", "reject"],
    "withdrawn": ["withdraw"],
    "blocked": ["block"],
}


def perform(r, w, draft_id: str, action: str):
    current = lifecycle.get(r, draft_id)
    if action == "submit":
        return lifecycle.submit(r, actor(w.admin), draft_id)
    if action == "edit":
        return lifecycle.edit(r, actor(w.admin), draft_id, {"text": f"第 {current.version + 1} 版"})
    if action == "withdraw":
        return lifecycle.withdraw(r, actor(w.admin), draft_id)
    if action == "approve":
        return review.approve(r, actor(w.responsible), draft_id, current.content_hash)
    if action == "reject":
        return review.reject(r, actor(w.responsible), draft_id, current.content_hash, "需修改")
    return lifecycle.system_move(r, SYSTEM, draft_id, action)


def draft_in(r, w, status: str) -> str:
    draft = text_draft(r, w)
    for step in PATHS[status]:
        perform(r, w, draft.id, step)
    assert lifecycle.get(r, draft.id).status == status
    return draft.id


def test_the_table_is_exactly_the_specified_machine():
    """The transition table is exactly the machine the issue specifies, plus reopen and the
    report of a publication by hand (issue 16)."""
    added = ("reopen", "report", "release", "hold", "resume", "close", "lapse", "reschedule")
    table = lifecycle.TRANSITIONS
    assert {k: v for k, v in table.items() if k[1] not in added and k[0] != "held"} == EXPECTED
    assert table[("approved", "reopen")] == "in_review"
    assert table[("approved", "report")] == "published"
    assert table[("blocked", "release")] == "in_review"


def test_the_table_holds_art_14_and_17():
    """Issue 14: suspension holds what is approved, resumption and a lapsed approval send it
    back to review, closure withdraws every open draft, a new time keeps the status."""
    table, open_ = lifecycle.TRANSITIONS, lifecycle.OPEN
    assert table[("approved", "hold")] == "held"
    assert table[("held", "resume")] == table[("approved", "lapse")] == "in_review"
    assert {(k, v) for k, v in table.items() if k[0] == "held" and k[1] not in ("close",)} == {
        (("held", "resume"), "in_review"),
        (("held", "edit"), "draft"),
        (("held", "withdraw"), "withdrawn"),
        (("held", "reschedule"), "held"),
    }
    assert {table[(status, "close")] for status in open_} == {"withdrawn"}
    assert all(table[(status, "reschedule")] == status for status in open_)
    assert not {"publishing", "published", "withdrawn"} & set(open_)


@pytest.mark.parametrize(("status", "action"), sorted(EXPECTED))
def test_allowed_transition(r, status, action):
    """Each allowed move, made through its real entry point, lands in the specified status."""
    w = world(r)
    draft_id = draft_in(r, w, status)
    perform(r, w, draft_id, action)
    assert lifecycle.get(r, draft_id).status == EXPECTED[(status, action)]


FORBIDDEN = sorted(set(itertools.product(PATHS, ACTIONS)) - set(EXPECTED))


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_forbidden_transition_is_refused_and_changes_nothing(r, status, action):
    """Each move not in the table is refused with the current status named, and nothing changes."""
    w = world(r)
    draft_id = draft_in(r, w, status)
    before = snapshot(r)
    with pytest.raises(Conflict, match=lifecycle.STATUSES[status]):
        perform(r, w, draft_id, action)
    assert snapshot(r) == before


def test_only_administrators_of_the_platform_submit(r):
    """Reviewers who are not administrators of the platform cannot create drafts."""
    w = world(r)
    for person in (w.responsible, w.propaganda):
        with pytest.raises(Forbidden, match="管理员"):
            lifecycle.create(r, actor(person), w.platform, "text", {"text": "x"})


@pytest.mark.parametrize("status", ["filing", "suspended", "closed"])
def test_no_drafts_on_platforms_that_are_not_active(r, status):
    """Art. 4, 7, 17: a platform not filed and active accepts no drafts."""
    w = world(r, status=status)
    before = snapshot(r)
    with pytest.raises(Conflict, match="不能投稿"):
        text_draft(r, w)
    assert snapshot(r) == before


def test_suspending_a_platform_stops_submission_of_existing_drafts(r):
    """A draft started while the platform was active cannot be submitted once it is suspended."""
    w = world(r)
    draft = text_draft(r, w)
    suspension.change_status(r, actor(w.propaganda), w.platform, "suspended", "整改")
    with pytest.raises(Conflict, match="已停用"):
        lifecycle.submit(r, actor(w.admin), draft.id)


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("text", {"text": "  "}, "正文不能为空"),
        ("text", {"text": "长" * 2001}, "正文过长"),
        ("text", {"text": "x", "title": "t"}, "不接受这些字段"),
        ("poem", {"text": "x"}, "稿件类型无效"),
        ("image", {"image_url": "ftp://x/y.png"}, "http"),
        ("article", {"title": "标" * 33, "content_html": "<p>x</p>"}, "标题过长"),
        ("article", {"title": "标题"}, "正文不能为空"),
        ("article", {"title": "t", "content_html": "x", "author": "作" * 17}, "作者过长"),
        ("article", {"title": "t", "content_html": "x", "digest": "摘" * 129}, "摘要过长"),
    ],
)
def test_bad_content_is_refused_and_nothing_is_written(r, kind, content, message):
    """Empty, oversized, unknown or malformed content gets a specific message and writes nothing."""
    w = world(r)
    before = snapshot(r)
    with pytest.raises(InvalidInput, match=message):
        lifecycle.create(r, actor(w.admin), w.platform, kind, content)
    assert snapshot(r) == before


def test_article_versions_and_hashes(r):
    """Each edit is a new numbered version with its own SHA-256, and old versions stay readable."""
    w = world(r)
    article = {
        "title": "校运会",
        "content_html": "<p>开幕</p>",
        "source_url": "https://example.edu.cn/a",
    }
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", article)
    edited = lifecycle.edit(r, actor(w.admin), draft.id, {**article, "content_html": "<p>闭幕</p>"})
    assert edited.version == 2 and edited.content_hash != draft.content_hash
    assert len(edited.content_hash) == 64
    assert lifecycle.version(r, draft.id, 1).content["content_html"] == "<p>开幕</p>"
    assert lifecycle.version(r, draft.id).content_hash == edited.content_hash


def test_draft_ids_are_short_and_typeable(r):
    """Draft ids look like D1, D2 and are found whatever the case or width the user types."""
    w = world(r)
    first, second = text_draft(r, w), text_draft(r, w)
    assert (first.id, second.id) == ("D1", "D2")
    assert lifecycle.get(r, "d2").id == "D2"
    assert lifecycle.get(r, "Ｄ２").id == "D2"
    with pytest.raises(InvalidInput, match="编号格式"):
        lifecycle.get(r, "42")
    with pytest.raises(NotFound):
        lifecycle.get(r, "D99")


def test_only_the_author_edits_or_withdraws(r):
    """Another administrator of the same platform cannot edit or withdraw someone else's draft."""
    w = world(r)
    draft = text_draft(r, w)
    with pytest.raises(Forbidden, match="作者"):
        lifecycle.edit(r, actor(w.other_admin), draft.id, {"text": "改"})
    with pytest.raises(Forbidden, match="作者"):
        lifecycle.withdraw(r, actor(w.other_admin), draft.id)


def test_scheduled_time_is_kept_and_past_times_refused(r):
    """A scheduled publish time is stored in UTC; a time in the past is refused."""
    w = world(r)
    draft = text_draft(r, w, scheduled_at="2099-01-01T08:00")
    assert draft.scheduled_at == "2099-01-01T00:00:00+00:00"
    with pytest.raises(InvalidInput, match="不能早于现在"):
        text_draft(r, w, scheduled_at="2001-01-01T08:00")


def test_every_step_is_audited_with_its_version_hash(r):
    """Creating, screening, submitting and approving each leave one record naming draft and hash."""
    w = world(r)
    draft = text_draft(r, w)
    lifecycle.submit(r, actor(w.admin), draft.id)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    steps = [rec for rec in audit.records(r, draft=draft.id)]
    actions = ["draft.create", "draft.screen", "draft.submit", "draft.approve"]
    assert [s["action"] for s in steps] == actions
    assert {s["version_hash"] for s in steps} == {draft.content_hash}
    assert steps[3]["person"] == w.responsible and steps[3]["decision"] == "approved"
    assert audit.verify(r).ok


@pytest.mark.parametrize(
    ("status", "action"), [("suspended", "start_publishing"), ("closed", "retry")]
)
def test_nothing_publishes_on_a_platform_that_is_not_active(r, status, action):
    """Art. 17: an approved or failed draft does not start publishing once its platform stops."""
    w = world(r)
    draft_id = draft_in(r, w, "approved" if action == "start_publishing" else "failed")
    suspension.change_status(r, actor(w.propaganda), w.platform, status, "第十七条")
    before = snapshot(r)
    with pytest.raises(Conflict, match="不能投稿或发布"):
        lifecycle.system_move(r, SYSTEM, draft_id, action)
    assert snapshot(r) == before


def test_a_removed_administrator_can_no_longer_edit_or_submit(r):
    """An author removed as administrator of the platform cannot edit or submit their draft."""
    w = world(r)
    draft = text_draft(r, w)
    refiled(r, owners.remove_admin(r, actor(w.propaganda), w.platform, w.admin, "调岗"))
    with pytest.raises(Forbidden, match="已不是平台"):
        lifecycle.submit(r, actor(w.admin), draft.id)
    with pytest.raises(Forbidden, match="已不是平台"):
        lifecycle.edit(r, actor(w.admin), draft.id, {"text": "改"})


def test_system_moves_need_the_system(r):
    """A person cannot make a move reserved to Qianfa itself, such as marking a draft published."""
    w = world(r)
    draft_id = draft_in(r, w, "approved")
    with pytest.raises(Forbidden, match="只能由系统执行"):
        lifecycle.system_move(r, actor(w.responsible), draft_id, "start_publishing")


def test_rescheduling_keeps_the_version_and_its_sign_offs(r):
    """Changing or clearing the publish time of an approved draft leaves it approved."""
    w = world(r)
    draft = lifecycle.submit(
        r, actor(w.admin), text_draft(r, w, scheduled_at="2099-01-01T08:00").id
    )
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    moved = lifecycle.reschedule(r, actor(w.admin), draft.id, "2099-02-01T08:00")
    assert moved.scheduled_at == "2099-02-01T00:00:00+00:00"
    assert (moved.status, moved.version) == ("approved", 1)
    assert lifecycle.reschedule(r, actor(w.admin), draft.id, None).scheduled_at == ""
    assert review.state(r, draft.id).complete
    with pytest.raises(Conflict, match="内容没有变化"):
        lifecycle.edit(r, actor(w.admin), draft.id, {"text": "计算机学院举办程序设计竞赛"})
