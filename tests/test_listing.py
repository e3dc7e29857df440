"""Draft listings read from indexes: they agree with the drafts, and read only a page."""

from app.channels import dashboard
from app.core.audit import Actor
from app.drafts import lifecycle, review
from app.registry import people, platforms
from tests.console_helpers import signed_in, without_csrf
from tests.factories import OPERATOR, actor, submitted, text_draft, world
from tests.publishing_helpers import approved

PUBLISHER = Actor.system("publisher")


def every_draft(r) -> list[lifecycle.Draft]:
    ids = [did.decode() for did in r.zrevrange("qianfa:drafts", 0, -1)]
    return lifecycle.load_many(r, ids)


def truly_waiting(r, person: str) -> list[str]:
    """What ``待审`` listed before the indexes: every draft, checked one by one."""
    return [
        d.id for d in every_draft(r) if review.can_sign(r, person, platforms.get(r, d.platform), d)
    ]


def busy_day(r):
    """Two platforms (tiers 1 and 2) and drafts moved through every kind of change."""
    a, b = world(r, tier=2, platform_id="a-wx"), world(r, tier=1, platform_id="b-wx")
    for w in (a, b):
        for _ in range(3):
            submitted(r, w)
        text_draft(r, w)
        half = submitted(r, w)
        review.approve(r, actor(w.responsible), half.id, half.content_hash)
        gone = submitted(r, w)
        review.reject(r, actor(w.responsible), gone.id, gone.content_hash, "请补充时间地点")
        back = lifecycle.edit(r, actor(w.admin), gone.id, {"text": "改好了,时间地点已补充"})
        lifecycle.submit(r, actor(w.admin), back.id)
        flagged = submitted(r, w)
        review.set_flag(r, actor(w.admin), flagged.id, "major_event")
        moved = submitted(r, w)
        lifecycle.edit(r, actor(w.admin), moved.id, {"text": "第二版内容"})
        lifecycle.withdraw(r, actor(w.admin), submitted(r, w).id)
    return a, b


def test_reviewers_lists_agree_with_checking_every_draft(r):
    """Whatever happened to the drafts, ``待审`` lists exactly what each reviewer may sign."""
    a, b = busy_day(r)
    for person in (a.responsible, b.responsible, a.propaganda, b.propaganda, a.admin):
        listed = [d.id for d in review.waiting_for(r, person, None, 1000)]
        assert listed == truly_waiting(r, person), person
        assert bool(listed) == (person != a.admin)
        assert review.signable(r, person, every_draft(r)) == set(listed)
    only_a = [d.id for d in review.waiting_for(r, a.propaganda, ["a-wx"], 1000)]
    assert only_a == [did for did in truly_waiting(r, a.propaganda) if did in set(only_a)]
    assert {lifecycle.get(r, did).platform for did in only_a} == {"a-wx"}


def test_status_and_author_lists_agree_with_the_drafts(r):
    a, b = busy_day(r)
    drafts = every_draft(r)
    for status in lifecycle.STATUSES:
        everywhere = [d.id for d in drafts if d.status == status]
        assert [d.id for d in lifecycle.list_across(r, None, status, 1000)] == everywhere
        for pid in ("a-wx", "b-wx"):
            here = [d.id for d in drafts if d.status == status and d.platform == pid]
            found = lifecycle.list_drafts(r, platform=pid, status=status, limit=1000)
            assert [d.id for d in found] == here
    mine = [d.id for d in drafts if d.author == a.admin]
    listed = lifecycle.list_drafts(r, platform="a-wx", author=a.admin, limit=1000)
    assert [d.id for d in listed] == mine and mine


def test_a_listing_reads_one_page_not_every_draft(r):
    """The cost of ``待审`` and ``我的稿件`` grows with the page: few drafts are read."""
    w = world(r)
    for _ in range(150):
        submitted(r, w)
    before = calls(r, "hgetall")
    assert len(review.waiting_for(r, w.responsible, [w.platform], 10)) == 10
    assert len(lifecycle.list_drafts(r, platform=w.platform, author=w.admin, limit=10)) == 10
    assert len(lifecycle.list_across(r, None, lifecycle.IN_REVIEW, 10)) == 10
    assert calls(r, "hgetall") - before <= 40


def test_the_dashboard_shows_a_page_and_the_overdue_oldest_first(r):
    w = world(r)
    for _ in range(dashboard.PAGE + 5):
        submitted(r, w)
    found = dashboard.overview(r, w.responsible, escalate_after=0)
    assert len(found.waiting) == dashboard.PAGE
    assert [d.id for d in found.overdue] == [f"D{n}" for n in range(1, dashboard.PAGE + 1)]


def calls(r, command: str) -> int:
    return r.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def commands(r) -> int:
    """Every command the server has run (the INFO that asks included)."""
    return sum(stat["calls"] for stat in r.info("commandstats").values())


def published(r, w) -> None:
    draft = approved(r, w, "text", text="计算机学院召开教学工作会议")
    lifecycle.system_move(r, PUBLISHER, draft.id, "start_publishing")
    lifecycle.system_move(r, PUBLISHER, draft.id, "publish")


def test_the_dashboard_reads_as_much_after_many_publications_as_after_one(r, counted):
    """Issue 17: the dashboard's counts (dormant platforms, re-filings, pages) come from
    indexes, one round trip for all the platforms, none per draft published."""
    w, other = world(r), world(r, platform_id="tw-wx")
    published(r, w)

    def cost() -> tuple[int, int]:
        before = commands(r)
        trips = counted.round_trips(lambda: dashboard.overview(counted, w.propaganda, 0))
        return trips, commands(r) - before

    once = cost()
    for _ in range(12):
        published(r, w)
        published(r, other)
    assert cost() == once
    assert dashboard.overview(r, w.propaganda, 0).dormant == []


def test_reindex_rebuilds_the_lists_of_drafts_stored_before_the_indexes(r):
    a, _ = busy_day(r)
    expected = [d.id for d in review.waiting_for(r, a.propaganda, None, 1000)]
    r.delete(*r.keys("qianfa:drafts:*:*"))
    assert review.waiting_for(r, a.propaganda, None, 1000) == []
    assert review.reindex(r) == len(every_draft(r))
    assert [d.id for d in review.waiting_for(r, a.propaganda, None, 1000)] == expected
    assert [d.id for d in review.waiting_for(r, a.responsible, None, 1000)] == truly_waiting(
        r, a.responsible
    )


def test_someone_who_sees_no_platform_sees_no_overdue_draft_on_the_dashboard(r, settings):
    """The overdue list is read over the platforms the person may see: none is none, not
    every platform's."""
    w = world(r)
    late = submitted(r, w)
    nobody = people.create(r, OPERATOR, "离任的老师")
    client, _ = signed_in(settings, r, nobody.id)
    found = dashboard.overview(r, nobody.id, escalate_after=0)
    assert found.overdue == [] and found.waiting == []
    page = without_csrf(client.get("/console/dashboard").data)
    assert late.id not in page and w.platform not in page
    assert [d.id for d in dashboard.overview(r, w.responsible, escalate_after=0).overdue] == [
        late.id
    ]
