"""Publishing in this process against the sandbox: text, articles, image posts, the checks
made when a job runs, scheduling, PUBLISHJOBFINISH, and previews."""

import json
import time
from datetime import timedelta

import pytest
from rq import Queue

from app.core import alerts, audit, keys
from app.core.errors import Conflict
from app.core.store import now
from app.drafts import lifecycle, review, suspension, uploads
from app.notify import draft_notices
from app.outbox import dispatch, queues
from app.publishing import record as pubs
from app.publishing import schedule
from app.wechat.quota import pause
from tests.factories import OPERATOR, actor, add_term
from tests.publishing_helpers import (
    COVER,
    approved,
    article_content,
    finish,
    image_server,
    publish_settings,
)
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, SECRET


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        for name in ("读者甲", "读者乙"):
            control.add_user(APPID, nickname=name)
        yield url, control


def actions(r, name: str) -> list[dict]:
    return [record for record in audit.records(r) if record["action"] == name]


def account(control) -> dict:
    return control.account(APPID)


# --- text posts -----------------------------------------------------------------------


def test_text_post_goes_out_as_one_mass_send(r, control, pset, w):
    """A text post is mass-sent to all followers once, and the draft is published."""
    draft = approved(r, w, text="计算机学院举办程序设计竞赛")
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE
    sends = account(control)["mass_sends"]
    assert [(s["msgtype"], s["content"]) for s in sends] == [("text", "计算机学院举办程序设计竞赛")]
    assert sends[0]["clientmsgid"] == f"qianfa-{draft.id}-v1-{draft.content_hash[:16]}"
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
    pub = schedule.publication_of(r, draft.id)
    assert pub.msg_id == str(sends[0]["msg_id"])
    assert json.loads(actions(r, "draft.publish")[0]["detail"]) == {"msg_id": pub.msg_id}


def test_repeated_mass_send_is_dropped_by_wechat(r, control, pset, w):
    """Sending again after a send that was not recorded gives WeChat's 45065: one send."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    pub = schedule.publication_of(r, draft.id)
    from app.publishing.steps import clientmsgid
    from app.wechat.client import WeChatAPI

    WeChatAPI.for_platform(r, w.platform, pset).mass_send_text(
        "计算机学院举办程序设计竞赛", clientmsgid(pub)
    )
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE
    assert len(account(control)["mass_sends"]) == 1
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


# --- articles and image posts ---------------------------------------------------------


def test_article_with_cover_url_and_inline_images(r, control, pset, w, images):
    """Cover to material, each inline image to uploadimg with its URL rewritten, draft/add,
    freepublish/submit, then published with the article URL stored and audited."""
    ref = uploads.save(r, actor(w.admin), COVER, "", uploads.Quota.of(pset)).ref
    content = article_content(
        [images.url("/a.png"), ref, images.url("/a.png")],
        cover_image=images.url("/cover.png"),
        author="王老师",
    )
    draft = approved(r, w, "article", content)
    schedule.schedule(r, draft.id, settings=pset)
    assert finish(r, control, draft.id, pset) == pubs.DONE
    articles = account(control)["articles"]
    assert len(articles) == 1
    item = articles[0]["news_item"][0]
    assert item["title"] == "程序设计竞赛" and item["author"] == "王老师"
    assert item["content"].count("http://mmbiz.qpic.cn/") == 3
    assert "127.0.0.1" not in item["content"] and "upload:" not in item["content"]
    assert images.requests.count("/a.png") == 1  # the same picture is uploaded once
    pub = schedule.publication_of(r, draft.id)
    assert pub.article_url == item["url"] and pub.article_id == articles[0]["article_id"]
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
    assert json.loads(actions(r, "draft.publish")[0]["detail"])["article_url"] == item["url"]
    steps = [json.loads(rec["detail"]).get("done") for rec in actions(r, "publish.step")]
    assert steps == ["start", "cover", "image", "image", "images", "draft", "submit", "publish"]
    assert all("比赛结果" not in rec["detail"] for rec in audit.records(r))


def test_image_post_is_published_as_a_picture_message(r, control, pset, w, images):
    """An image post becomes a newspic article: the picture, the caption as its text."""
    content = {"image_url": images.url("/b.jpg"), "caption": "运动会开幕式"}
    draft = approved(r, w, "image", content)
    schedule.schedule(r, draft.id, settings=pset)
    assert finish(r, control, draft.id, pset) == pubs.DONE
    item = account(control)["articles"][0]["news_item"][0]
    assert item["article_type"] == "newspic" and item["title"] == "运动会开幕式"
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


def test_cover_that_cannot_be_found_fails_the_draft(r, control, pset, w, images):
    """A cover URL answering 404 is a permanent failure: the draft fails with the reason."""
    content = article_content([], cover_image=images.url("/missing.png"))
    draft = approved(r, w, "article", content)
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    failed = lifecycle.get(r, draft.id)
    assert failed.status == lifecycle.FAILED and "HTTP 404" in failed.status_reason
    assert alerts.recent(r)[0].kind == "publish_failed"


def test_cover_over_the_size_limit_is_not_downloaded_whole(r, control, pset, w):
    """A cover larger than WeChat takes is refused while downloading."""
    with image_server({"/huge.png": COVER + b"\x00" * (11 * 1024 * 1024)}) as server:
        draft = approved(r, w, "article", article_content([], cover_image=server.url("/huge.png")))
        schedule.schedule(r, draft.id, settings=pset)
        assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    assert "超过 10 MB" in lifecycle.get(r, draft.id).status_reason


def test_image_server_busy_is_retried(r, control, pset, w, images):
    """A cover server answering 503 is retried later, not failed."""
    draft = approved(r, w, "article", article_content([], cover_image=images.url("/busy.png")))
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert schedule.publication_of(r, draft.id).attempts == 1
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHING


# --- the checks made when the job runs ------------------------------------------------


def test_suspended_platform_holds_the_draft_and_the_job_refuses(r, control, pset, w):
    """Art. 17: the suspension holds the approved draft; its queued job refuses, audits why
    and calls no WeChat API."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    suspension.change_status(r, OPERATOR, w.platform, "suspended", "整改")
    assert lifecycle.get(r, draft.id).status == lifecycle.HELD
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.REFUSED
    assert "已停用" in actions(r, "publish.refused")[0]["reason"]
    assert account(control)["mass_sends"] == []


def test_a_refusal_for_an_inactive_platform_is_not_silent(r, control, pset, w):
    """Art. 17: a run that finds the platform suspended under an approved draft (a status
    written around ``suspension``) holds the draft in the refusal's transaction."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    r.hset(keys.platform(w.platform), "status", "suspended")
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.REFUSED
    assert lifecycle.get(r, draft.id).status == lifecycle.HELD
    assert [row["decision"] for row in actions(r, "draft.hold")] == [lifecycle.HELD]
    assert account(control)["mass_sends"] == []


def test_lexicon_change_since_approval_blocks_before_anything_goes_out(
    r, control, pset, w, lexicons
):
    """Issue 6: screened again before publishing when the lexicons changed since review."""
    draft = approved(r, w, text="校园歌手大赛圆满结束")
    schedule.schedule(r, draft.id, settings=pset)
    add_term(lexicons, "other_prohibited", "歌手大赛")
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.REFUSED
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    assert account(control)["mass_sends"] == []


def test_edit_after_approval_refuses_the_old_version(r, control, pset, w):
    """An edit after scheduling voids the approval: the queued job publishes nothing."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": "改过的内容"})
    assert schedule.run(r, draft.id, 1, settings=pset) == pubs.REFUSED
    assert "审核中" in actions(r, "publish.refused")[0]["reason"]
    assert account(control)["mass_sends"] == []


def test_signoff_not_on_the_current_hash_refuses(r, control, pset, w):
    """Sign-offs are checked again at run time against the current content hash."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    r.delete(keys.draft_signoffs(draft.id))
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.REFUSED
    assert "缺少签发:第一责任人" in actions(r, "publish.refused")[0]["reason"]
    back = lifecycle.get(r, draft.id)
    assert back.status == lifecycle.IN_REVIEW and "缺少签发" in back.status_reason


def test_quota_pause_holds_the_publication_until_the_reset(r, control, pset, w):
    """While the platform's quota is spent the job holds: nothing sent, next run scheduled."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    pause(r, w.platform, endpoint="message/mass/sendall", until=now() + timedelta(hours=2))
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    pub = schedule.publication_of(r, draft.id)
    assert pub.step == pubs.QUEUED and pub.run == 2
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    assert pub.job in Queue(queues.PUBLISHING, connection=r).scheduled_job_registry.get_job_ids()
    assert account(control)["mass_sends"] == []


def test_only_one_run_advances_a_publication_at_a_time(r, control, pset, w):
    """A second run while another holds the lease does nothing."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    assert pubs.Lease(r, draft.id, 30).acquire()
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "busy"
    assert account(control)["mass_sends"] == []


# --- scheduling -----------------------------------------------------------------------


def test_schedule_is_idempotent(r, pset, w):
    """Scheduling twice queues one job and records one publication."""
    draft = approved(r, w)
    first = schedule.schedule(r, draft.id, settings=pset)
    second = schedule.schedule(r, draft.id, settings=pset)
    assert first == second
    assert Queue(queues.PUBLISHING, connection=r).job_ids == [first.job]
    assert len(actions(r, "publish.scheduled")) == 1


def test_schedule_ignores_a_draft_that_is_not_approved(r, pset, w):
    draft = lifecycle.create(r, actor(w.admin), w.platform, "text", {"text": "未提交"})
    assert schedule.schedule(r, draft.id, settings=pset) is None
    assert not r.exists(keys.publications_active())


def test_scheduled_time_is_honoured(r, pset, w):
    """A draft with a publish time in the future is queued for that time."""
    when = now() + timedelta(hours=3)
    draft = approved(r, w, scheduled_at=when.isoformat())
    pub = schedule.schedule(r, draft.id, settings=pset)
    queue = Queue(queues.PUBLISHING, connection=r)
    assert queue.job_ids == []
    assert pub.job in queue.scheduled_job_registry.get_job_ids()
    due = r.zscore(keys.publications_active(), pub.member)
    assert abs(due - when.timestamp()) < 2


def test_approved_after_its_time_goes_at_once(r, pset, w):
    """A draft approved after its publish time is queued at once."""
    draft = approved(r, w, scheduled_at=(now() + timedelta(minutes=5)).isoformat())
    r.hset(keys.draft(draft.id), "scheduled_at", (now() - timedelta(minutes=5)).isoformat())
    pub = schedule.schedule(r, draft.id, settings=pset)
    assert Queue(queues.PUBLISHING, connection=r).job_ids == [pub.job]


# --- PUBLISHJOBFINISH and polling -----------------------------------------------------


def submitted_article(r, control, pset, w, images):
    """An article whose publish job WeChat has accepted but not finished."""
    control.configure(publish_delay=60)
    draft = approved(r, w, "article", article_content([], cover_image=images.url("/cover.png")))
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    return draft, schedule.publication_of(r, draft.id)


def test_callback_completes_the_publication(r, control, pset, w, images):
    """PUBLISHJOBFINISH with status 0 publishes the draft with the article URL."""
    draft, pub = submitted_article(r, control, pset, w, images)
    assert pub.step == pubs.WAIT and pub.publish_id
    control.flush_jobs()
    control.wait_idle()
    job = account(control)["publish_jobs"][0]
    url = job["article_detail"]["item"][0]["article_url"]
    assert schedule.on_publish_finished(r, pub.publish_id, 0, job["article_id"], url, [])
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
    assert schedule.publication_of(r, draft.id).article_url == url
    # WeChat resends a callback it got no answer to: nothing changes the second time.
    assert schedule.on_publish_finished(r, pub.publish_id, 0, job["article_id"], url, [])
    assert len(actions(r, "draft.publish")) == 1


def test_polling_completes_the_publication_without_callback(r, control, pset, w, images):
    """Without a callback, freepublish/get polled with backoff finds the outcome."""
    draft, pub = submitted_article(r, control, pset, w, images)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert schedule.publication_of(r, draft.id).polls == 1
    control.flush_jobs()
    control.wait_idle()
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


def test_failure_callback_fails_the_draft_after_checking(r, control, pset, w, images):
    """A failed publish job (WeChat's review refused it) fails the draft and alerts."""
    control.change_account(APPID, publish_outcomes=[4])
    draft, pub = submitted_article(r, control, pset, w, images)
    control.flush_jobs()
    control.wait_idle()
    assert schedule.on_publish_finished(r, pub.publish_id, 4, "", "", [1])
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    failed = lifecycle.get(r, draft.id)
    assert failed.status == lifecycle.FAILED and "平台审核不通过" in failed.status_reason
    assert alerts.recent(r)[0].kind == "publish_failed"


def test_unknown_publish_id_is_ignored_and_audited(r):
    """A PUBLISHJOBFINISH that is not ours changes nothing and is audited."""
    assert schedule.on_publish_finished(r, "2247599999", 0, "x", "https://mp/x", []) is False
    record = actions(r, "publish.callback_unknown")[0]
    assert json.loads(record["detail"]) == {"publish_id": "2247599999", "publish_status": 0}


# --- WeChat errors --------------------------------------------------------------------


def test_permanent_error_fails_the_draft_with_wechats_reason(r, control, pset, w, images):
    """A refused draft/add fails the draft with the reason in Chinese and alerts."""
    control.add_fault(endpoint="draft/add", action={"errcode": 45003}, times=1)
    draft = approved(r, w, "article", article_content([], cover_image=images.url("/cover.png")))
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    failed = lifecycle.get(r, draft.id)
    assert failed.status == lifecycle.FAILED
    assert "标题超过长度限制(微信错误码 45003)" in failed.status_reason
    alert = alerts.recent(r)[0]
    assert alert.kind == "publish_failed" and alert.draft == draft.id
    assert account(control)["publish_jobs"] == []


def test_retryable_errors_are_retried_with_backoff(r, control, pset, w):
    """-1 and HTTP 502 are retried; the third attempt sends, once."""
    control.add_fault(
        endpoint="message/mass/sendall", sequence=[{"errcode": -1}, {"http_status": 502}]
    )
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert schedule.publication_of(r, draft.id).attempts == 2
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE
    assert len(account(control)["mass_sends"]) == 1
    delays = [json.loads(rec["detail"])["delay"] for rec in actions(r, "publish.retry")]
    assert len(delays) == 2


def test_retries_exhausted_fail_and_alert(r, control, sandbox, w):
    """After the configured attempts the draft fails and the department is alerted."""
    pset = publish_settings(sandbox[0], publish_attempts=3)
    control.add_fault(endpoint="message/mass/sendall", action={"errcode": -1})
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    outcomes = [schedule.run(r, draft.id, draft.version, settings=pset) for _ in range(3)]
    assert outcomes == ["waiting", "waiting", pubs.FAILED]
    failed = lifecycle.get(r, draft.id)
    assert failed.status == lifecycle.FAILED and "重试 3 次仍失败" in failed.status_reason
    assert "微信系统繁忙" in failed.status_reason
    assert [a.kind for a in alerts.recent(r)] == ["publish_failed"]


def test_quota_exhausted_mid_publication_holds_and_resumes(r, control, pset, w, images):
    """45009 on a step pauses the platform and holds the publication; it resumes later."""
    control.add_fault(endpoint="draft/add", action={"quota": True}, times=1)
    draft = approved(r, w, "article", article_content([], cover_image=images.url("/cover.png")))
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    pub = schedule.publication_of(r, draft.id)
    assert pub.step == pubs.DRAFT and pub.attempts == 0
    assert [a.kind for a in alerts.recent(r)] == ["quota_exhausted"]
    r.delete(keys.wechat_paused(w.platform))  # the quota reset
    assert finish(r, control, draft.id, pset) == pubs.DONE
    assert len(account(control)["articles"]) == 1


def test_retrying_a_failed_draft_publishes_a_new_round(r, control, pset, w):
    """After a failure, retry → approved → schedule starts a new round of the same version."""
    control.add_fault(endpoint="message/mass/sendall", action={"errcode": 45028}, times=1)
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    lifecycle.system_move(r, audit.Actor.system("test"), draft.id, "retry")
    pub = schedule.schedule(r, draft.id, settings=pset)
    assert pub.round == 2 and pub.step == pubs.QUEUED
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE


# --- the sweeper ----------------------------------------------------------------------


def test_sweep_requeues_a_publication_whose_job_was_lost(r, pset, w):
    """A due publication without a live job and without lease gets a new run."""
    draft = approved(r, w)
    pub = schedule.schedule(r, draft.id, settings=pset)
    Queue(queues.PUBLISHING, connection=r).empty()  # the job is lost
    assert schedule.sweep(r, settings=pset, now=time.time() + 1) == [pub.member]
    again = schedule.publication_of(r, draft.id)
    assert again.run == 2 and Queue(queues.PUBLISHING, connection=r).job_ids == [again.job]
    assert schedule.sweep(r, settings=pset, now=time.time() + 1) == []


def test_sweep_leaves_a_leased_publication_alone(r, pset, w):
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    Queue(queues.PUBLISHING, connection=r).empty()
    pubs.Lease(r, draft.id, 30).acquire()
    assert schedule.sweep(r, settings=pset, now=time.time() + 1) == []


# --- previews -------------------------------------------------------------------------


def test_preview_needs_the_platform_setting(r, pset, w):
    draft = approved(r, w)
    with pytest.raises(Conflict, match="未开启群发预览"):
        schedule.send_preview(r, draft.id, "o-any", settings=pset)


def test_preview_of_a_text_post_reaches_the_reviewer(r, control, pset, w):
    """With previews on, a reviewer sees the text post in WeChat before approving."""
    reviewer = control.add_user(APPID, nickname="李书记", role="staff")["openid"]
    schedule.set_preview(r, OPERATOR, w.platform, True)
    draft = lifecycle.submit(
        r,
        actor(w.admin),
        lifecycle.create(r, actor(w.admin), w.platform, "text", {"text": "预览内容"}).id,
    )
    schedule.send_preview(r, draft.id, reviewer, settings=pset)
    chat = control.user(APPID, reviewer)["chat"]
    assert [(line["via"], line["content"]) for line in chat] == [("群发预览", "预览内容")]
    assert account(control)["mass_sends"] == []
    assert actions(r, "publish.preview")


def test_preview_of_an_article_uploads_it_as_a_wechat_draft(r, control, pset, w, images):
    reviewer = control.add_user(APPID, nickname="李书记", role="staff")["openid"]
    schedule.set_preview(r, OPERATOR, w.platform, True)
    content = article_content([images.url("/a.png")], cover_image=images.url("/cover.png"))
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", content)
    schedule.send_preview(r, draft.id, reviewer, settings=pset)
    line = control.user(APPID, reviewer)["chat"][-1]
    assert line["via"] == "群发预览" and line["titles"] == ["程序设计竞赛"]
    assert len(account(control)["drafts"]) == 1 and account(control)["articles"] == []


def test_preview_setting_is_stored_and_audited(r, w):
    assert schedule.preview_enabled(r, w.platform) is False
    schedule.set_preview(r, OPERATOR, w.platform, True)
    assert schedule.preview_enabled(r, w.platform) is True
    schedule.set_preview(r, OPERATOR, w.platform, False)
    assert schedule.preview_enabled(r, w.platform) is False
    decisions = [rec["decision"] for rec in actions(r, "platform.preview_setting")]
    assert decisions == ["on", "off"]


def test_review_state_unchanged_by_publishing(r, control, pset, w):
    """Publishing reads the sign-offs; it never writes them."""
    draft = approved(r, w)
    before = review.state(r, draft.id).given
    schedule.schedule(r, draft.id, settings=pset)
    schedule.run(r, draft.id, draft.version, settings=pset)
    assert r.hgetall(keys.draft_signoffs(draft.id)) and before


def test_repeated_submit_refused_while_the_first_is_publishing(r, control, pset, w, images):
    """After a submit that was made but not recorded, a refused resubmission is retried
    rather than failing, and the one article is found once WeChat is done."""
    draft, pub = submitted_article(r, control, pset, w, images)
    pubs.note(r, pub, step=pubs.SUBMIT, publish_id="")  # as if killed right after submit
    control.add_fault(endpoint="freepublish/submit", action={"errcode": 53501}, times=1)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert schedule.publication_of(r, draft.id).attempts == 1
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHING
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    second = schedule.publication_of(r, draft.id)
    assert second.step == pubs.WAIT and second.publish_id != pub.publish_id
    control.flush_jobs()
    control.wait_idle()
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.DONE
    assert len(account(control)["articles"]) == 1
    # The first job's PUBLISHJOBFINISH names a publish_id recorded before the crash: ours.
    assert schedule.on_publish_finished(r, pub.publish_id, 0, "a", "https://mp/a", [])
    assert len(actions(r, "draft.publish")) == 1


def test_a_superseded_run_does_nothing(r, control, pset, w):
    """A run queued before a later one (a callback's, the sweeper's) exits without a call."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    pub = schedule.publication_of(r, draft.id)
    pubs.note(r, pub, run=3)
    assert schedule.run(r, draft.id, draft.version, settings=pset, number=1) == "superseded"
    assert account(control)["mass_sends"] == []
    assert schedule.run(r, draft.id, draft.version, settings=pset, number=3) == pubs.DONE


def test_a_later_publish_time_is_followed(r, control, pset, w):
    """Moved later after it was queued, the publication waits for the new time."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    later = now() + timedelta(hours=1)
    lifecycle.reschedule(r, actor(w.admin), draft.id, later.isoformat())
    pub = schedule.schedule(r, draft.id, settings=pset)
    assert pub.run == 1  # the schedule call itself queued the run for the new time ...
    moved = schedule.publication_of(r, draft.id)
    assert (
        moved.run == 2
        and moved.job in Queue(queues.PUBLISHING, connection=r).scheduled_job_registry.get_job_ids()
    )
    # ... and a run already queued for the old time only queues itself again.
    assert schedule.run(r, draft.id, draft.version, settings=pset) == "waiting"
    assert account(control)["mass_sends"] == []
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED


def test_mass_send_unconfirmed_for_a_day_is_not_repeated(r, control, pset, w):
    """Past WeChat's 24-hour clientmsgid window a resend could reach followers twice: fail."""
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    lifecycle.system_move(r, audit.Actor.system("test"), draft.id, "start_publishing")
    pub = schedule.publication_of(r, draft.id)
    pubs.note(
        r, pub, step=pubs.SEND, send_intent_at=(now() - timedelta(hours=23, minutes=1)).isoformat()
    )
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    assert "为免重复群发" in lifecycle.get(r, draft.id).status_reason
    assert account(control)["mass_sends"] == []


def test_the_first_failed_step_tells_the_author_it_retries_and_for_how_long(r, control, pset, w):
    """Issue 13: the author hears at the first failure, not ten minutes later."""
    control.add_fault(endpoint="message/mass/sendall", sequence=[{"errcode": -1}, {"errcode": -1}])
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    schedule.run(r, draft.id, draft.version, settings=pset)
    schedule.run(r, draft.id, draft.version, settings=pset)
    first, second = actions(r, "publish.retry")
    assert [rule.job for rule in dispatch.RULES if rule.matches(first)] == ["notify_author"]
    assert not [rule.job for rule in dispatch.RULES if rule.matches(second)]
    notice = draft_notices.author_notice(lifecycle.get(r, draft.id), first)
    assert "微信系统繁忙" in notice.text and "自动重试" in notice.text
    left = pset.publish_attempts - 1
    assert f"最多 {left} 次" in notice.text and "分钟内" in notice.text
    assert "微信系统繁忙" in schedule.publication_of(r, draft.id).reason


def test_the_final_failure_says_what_to_do(r, w):
    draft = approved(r, w)
    record = {"id": "1-0", "action": "draft.fail", "draft": draft.id, "reason": "重试 8 次仍失败"}
    text = draft_notices.author_notice(draft, record).text
    assert f"修改 {draft.id}" in text and "联系党委宣传部" in text
