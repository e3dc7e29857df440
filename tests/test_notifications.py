"""Notifications through the sandbox WeChat: reviewers asked when a draft enters review,
authors told of each outcome, reminders and escalation, each once and audited."""

from datetime import timedelta

import pytest

from app.channels import chat
from app.channels.chat import Inbound
from app.core import audit, keys
from app.core.audit import Actor
from app.core.masterkey import load_keyring
from app.core.store import now, timestamp
from app.drafts import lifecycle, review
from app.notify import deliver
from app.publishing import schedule
from app.registry import owners, platforms
from tests.factories import OPERATOR, actor, submitted, world
from tests.notify_helpers import TEMPLATE, sandbox_office  # noqa: F401
from tests.wechat_helpers import APPID

SYSTEM = Actor.system("worker")


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    """The office with the responsible person and the author bound, windows open."""
    sandbox_office.bind(sandbox_office.w.responsible, "李书记")
    sandbox_office.bind(sandbox_office.w.admin, "王老师")
    sandbox_office.writes(sandbox_office.w.responsible)
    sandbox_office.writes(sandbox_office.w.admin)
    return sandbox_office


def records(r, action):
    return list(audit.records(r, action=action))


def test_submitted_draft_reaches_the_responsible_person_with_what_to_reply(o):
    """On submit the bound reviewer gets a customer-service message: summary, text, replies."""
    draft = submitted(o.r, o.w, text="计算机学院举办程序设计竞赛")
    o.settle()

    (message,) = o.received(o.w.responsible, "客服消息")
    text = message["content"]
    assert f"稿件 {draft.id}" in text and draft.content_hash[:8] in text
    assert "计算机学院举办程序设计竞赛" in text
    assert f"同意 {draft.id}" in text and f"驳回 {draft.id} 原因" in text
    assert f"查看 {draft.id}" in text
    seen = o.r.get(keys.chat_seen(draft.id, o.w.responsible))
    assert seen.decode() == draft.content_hash
    (sent,) = records(o.r, "notify.sent")
    assert (sent["subject"], sent["draft"], sent["decision"]) == (
        o.w.responsible,
        draft.id,
        "custom",
    )
    assert o.received(o.w.admin) == []  # the author is not asked to review


def test_platform_with_previews_on_also_shows_reviewers_the_real_thing(o):
    """Issue 5: with the platform's preview setting on, a notified reviewer also gets the
    post as WeChat's mass-send preview; nothing is mass-sent to followers."""
    schedule.set_preview(o.r, OPERATOR, o.w.platform, True)
    submitted(o.r, o.w, text="计算机学院举办程序设计竞赛")
    o.settle()

    (shown,) = o.received(o.w.responsible, "群发预览")
    assert shown["content"] == "计算机学院举办程序设计竞赛"
    assert o.control.account(APPID)["mass_sends"] == []


def test_outside_the_window_the_template_message_is_sent_with_a_preview_link(sandbox_office):  # noqa: F811
    """A reviewer who has not written for 48 h gets the platform's template message."""
    o = sandbox_office
    o.bind(o.w.responsible)
    o.control.add_template(APPID, template_id=TEMPLATE, title="审核提醒")
    deliver.set_template(o.r, OPERATOR, o.w.platform, TEMPLATE)
    draft = submitted(o.r, o.w)
    o.settle()

    (message,) = o.received(o.w.responsible)
    assert message["via"] == "模板消息"
    assert message["data"]["keyword2"].startswith(draft.id)
    assert f"同意 {draft.id}" in message["data"]["keyword3"]
    assert all(len(value) <= deliver.TEMPLATE_VALUE_MAX for value in message["data"].values())
    assert "/preview/" in message["url"]
    assert records(o.r, "notify.sent")[0]["decision"] == "template"
    assert o.r.get(keys.chat_seen(draft.id, o.w.responsible)).decode() == draft.content_hash


def test_a_closed_window_on_wechats_side_falls_back_to_the_template(o):
    """When WeChat answers 45015 although Qianfa thought the window open, the template goes."""
    o.control.add_template(APPID, template_id=TEMPLATE, title="审核提醒")
    deliver.set_template(o.r, OPERATOR, o.w.platform, TEMPLATE)
    o.control.advance_clock(49 * 3600)  # WeChat's clock: the user's message is 49 h old
    submitted(o.r, o.w)
    o.settle()

    assert [m["via"] for m in o.received(o.w.responsible)] == ["模板消息"]


def test_without_window_or_template_the_failure_is_audited(sandbox_office):  # noqa: F811
    o = sandbox_office
    o.bind(o.w.responsible)
    submitted(o.r, o.w)
    o.settle()

    assert o.received(o.w.responsible) == []
    (failed,) = records(o.r, "notify.failed")
    assert failed["subject"] == o.w.responsible and "模板" in failed["reason"]


def test_a_reviewer_not_bound_on_the_platform_is_recorded_unreachable(sandbox_office):  # noqa: F811
    draft = submitted(sandbox_office.r, sandbox_office.w)
    sandbox_office.settle()

    (record,) = records(sandbox_office.r, "notify.unreachable")
    assert (record["subject"], record["draft"]) == (sandbox_office.w.responsible, draft.id)


def test_each_job_sends_once_however_often_it_runs(o):
    """Running the notification job again (a redelivered event, a retry) sends nothing more."""
    from workers import jobs as job_functions

    submitted(o.r, o.w)
    o.settle()
    (event,) = records(o.r, "draft.submit")
    job_functions.notify_reviewers(event["id"])
    job_functions.notify_reviewers(event["id"])

    assert len(o.received(o.w.responsible)) == 1
    assert len(records(o.r, "notify.sent")) == 1


def test_a_flag_asks_the_propaganda_department_and_not_the_responsible_again(o):
    """Flagging a draft in review adds the propaganda sign-off; only that reviewer is asked."""
    o.bind(o.w.propaganda, "张部长")
    o.writes(o.w.propaganda)
    draft = submitted(o.r, o.w)
    o.settle()
    review.set_flag(o.r, actor(o.w.admin), draft.id, "major_event")
    o.settle()

    assert len(o.received(o.w.responsible, "客服消息")) == 1
    texts = [m["content"] for m in o.received(o.w.propaganda, "客服消息")]
    (asked,) = [text for text in texts if text.startswith("【待审核】")]
    assert "党委宣传部身份" in asked
    assert any("稿件涉及重大事件" in text for text in texts)  # and the sensitive_draft alert


def test_a_new_version_in_review_is_announced_again(o):
    draft = submitted(o.r, o.w)
    o.settle()
    edited = lifecycle.edit(o.r, actor(o.w.admin), draft.id, {"text": "第二版:比赛改在周六"})
    o.settle()

    first, second = o.received(o.w.responsible, "客服消息")
    assert "第二版:比赛改在周六" in second["content"]
    assert edited.content_hash[:8] in second["content"]


def test_a_draft_rejected_and_edited_back_is_asked_about_again_in_a_new_round(o):
    """A approved, then rejected; edited to B and back to A; submitted: a new review round.
    The responsible person is asked again, and their sign-off of the first round, even
    written back as it was stored, does not approve the draft."""
    first = "计算机学院举办程序设计竞赛"
    draft = submitted(o.r, o.w, text=first)
    o.settle()
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    first_round = o.r.hgetall(keys.draft_signoffs(draft.id))
    review.reject(o.r, actor(o.w.responsible), draft.id, draft.content_hash, "时间待定")
    lifecycle.edit(o.r, actor(o.w.admin), draft.id, {"text": "程序设计竞赛改在周六"})
    lifecycle.edit(o.r, actor(o.w.admin), draft.id, {"text": first})
    again = lifecycle.submit(o.r, actor(o.w.admin), draft.id)
    o.settle()

    assert again.content_hash == draft.content_hash
    asked = [m["content"] for m in o.received(o.w.responsible, "客服消息")]
    asked = [text for text in asked if text.startswith("【待审核】")]
    assert len(asked) == 2 and draft.content_hash[:8] in asked[1]
    o.r.hset(keys.draft_signoffs(draft.id), mapping=first_round)
    current = review.state(o.r, draft.id)
    assert (current.draft.status, current.given, current.missing) == (
        lifecycle.IN_REVIEW,
        {},
        [review.RESPONSIBLE],
    )
    done = review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    assert done.draft.status == lifecycle.APPROVED


def test_approval_in_chat_binds_to_the_version_the_notification_showed(o):
    """The reviewer saw version 1 in the notification; after an edit, 同意 is refused as stale."""
    draft = submitted(o.r, o.w)
    o.settle()
    lifecycle.edit(o.r, actor(o.w.admin), draft.id, {"text": "悄悄改过的内容"})  # not yet announced

    keyring = load_keyring(o.settings)
    platform = platforms.get(o.r, o.w.platform)
    message = Inbound(
        o.openids[o.w.responsible],
        "text",
        person=o.w.responsible,
        text=f"同意 {draft.id}",
        authenticated=True,
    )
    reply = chat.respond(o.r, keyring, platform, message)
    assert "已修改" in reply
    assert lifecycle.get(o.r, draft.id).status == lifecycle.IN_REVIEW


def test_the_author_hears_of_approval(o):
    draft = submitted(o.r, o.w)
    o.settle()
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    o.settle()

    approved = [m for m in o.received(o.w.admin, "客服消息") if "审核通过" in m["content"]]
    assert len(approved) == 1 and draft.id in approved[0]["content"]


def test_the_author_hears_of_rejection_with_its_reason(o):
    draft = submitted(o.r, o.w)
    review.reject(o.r, actor(o.w.responsible), draft.id, draft.content_hash, "标题有错别字")
    o.settle()

    (told,) = o.received(o.w.admin, "客服消息")
    assert "退回" in told["content"] and "标题有错别字" in told["content"]


def test_the_author_hears_of_publication_with_the_article_link(o):
    draft = submitted(o.r, o.w)
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    lifecycle.system_move(o.r, SYSTEM, draft.id, "start_publishing")
    link = "https://mp.weixin.qq.com/s/abcdefg"
    audit.record(
        o.r, SYSTEM, "draft.publish", platform=o.w.platform, draft=draft.id, detail={"url": link}
    )
    o.settle()

    told = [m["content"] for m in o.received(o.w.admin, "客服消息")]
    assert any("已发布" in text and link in text for text in told)


def test_the_author_hears_of_failure_with_the_reason(o):
    draft = submitted(o.r, o.w)
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    lifecycle.system_move(o.r, SYSTEM, draft.id, "start_publishing")
    lifecycle.system_move(
        o.r, SYSTEM, draft.id, "fail", "提交发布失败:图文内容为空(微信错误码 44003)"
    )
    o.settle()

    told = [m["content"] for m in o.received(o.w.admin, "客服消息")]
    assert any("发布失败" in text and "44003" in text for text in told)


def age_review(o, draft_id: str, hours: float) -> None:
    """Make the draft's current version look as if it had waited ``hours`` already."""
    since = timestamp(now() - timedelta(hours=hours))
    o.r.hset(keys.review_clock(draft_id), "since", since)


def test_a_waiting_review_is_reminded_once(o):
    from workers import jobs as job_functions

    draft = submitted(o.r, o.w)
    o.settle()
    age_review(o, draft.id, 5)  # the default reminder comes after 4 hours
    job_functions.scan_reviews()
    job_functions.scan_reviews()

    asked, reminded = o.received(o.w.responsible, "客服消息")
    assert "审核提醒" in reminded["content"] and draft.id in reminded["content"]
    assert [r["detail"] for r in records(o.r, "notify.sent")].count('{"purpose": "reminder"}') == 1


def test_an_overdue_review_is_escalated_to_the_propaganda_department(o):
    from workers import jobs as job_functions

    o.bind(o.w.propaganda, "张部长")
    o.writes(o.w.propaganda)
    draft = submitted(o.r, o.w)
    o.settle()
    age_review(o, draft.id, 25)  # the default escalation comes after 24 hours
    job_functions.scan_reviews()
    job_functions.scan_reviews()
    o.settle()

    alerts_seen = [m["content"] for m in o.received(o.w.propaganda, "客服消息")]
    assert len(alerts_seen) == 1
    assert "审核超时" in alerts_seen[0] and draft.id in alerts_seen[0]


def test_a_refiling_left_open_is_reminded_to_the_propaganda_department_once(o):
    """Art. 6 asks for the re-filing 及时: after three days one alert goes out, not two."""
    from workers import jobs as job_functions

    o.bind(o.w.propaganda, "张部长")
    o.writes(o.w.propaganda)
    change = owners.remove_admin(o.r, OPERATOR, o.w.platform, o.w.other_admin, "调岗")
    job_functions.scan_reviews()
    o.settle()
    assert o.received(o.w.propaganda, "客服消息") == []
    opened = timestamp(now() - timedelta(days=4))
    o.r.hset(keys.filing(change.filing.id), "opened_at", opened)
    job_functions.scan_reviews()
    job_functions.scan_reviews()
    o.settle()
    (alert,) = [m["content"] for m in o.received(o.w.propaganda, "客服消息")]
    assert "变更备案久未完成" in alert and change.filing.id in alert and "第六条" in alert


def test_a_draft_that_left_review_is_not_reminded(o):
    from workers import jobs as job_functions

    draft = submitted(o.r, o.w)
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    o.settle()
    age_review(o, draft.id, 30)
    job_functions.scan_reviews()

    assert not any("审核提醒" in m.get("content", "") for m in o.received(o.w.responsible))


def test_set_template_is_for_the_propaganda_department(r):
    from app.core.errors import Forbidden

    w = world(r)
    with pytest.raises(Forbidden):
        deliver.set_template(r, actor(w.admin), w.platform, TEMPLATE)
    assert deliver.set_template(r, actor(w.propaganda), w.platform, TEMPLATE) == TEMPLATE
    assert deliver.template_for(r, w.platform) == TEMPLATE


def test_a_platform_without_an_appsecret_is_a_recorded_failure_not_a_crash(o):
    """No AppSecret sealed: the job records why it could not notify, and does not fail."""
    o.r.delete(keys.platform_secrets(o.w.platform))
    submitted(o.r, o.w)
    o.settle()

    (failed,) = records(o.r, "notify.failed")
    assert failed["subject"] == o.w.responsible


def test_the_window_allows_five_messages_per_message_from_the_user(r):
    from app.notify import window

    openid = "o" + "x" * 27
    assert not window.window_open(r, "jsj-wx", openid)
    window.touch(r, "jsj-wx", openid)
    for _ in range(window.PER_MESSAGE):
        assert window.window_open(r, "jsj-wx", openid)
        window.used(r, "jsj-wx", openid)
    assert not window.window_open(r, "jsj-wx", openid)
    window.touch(r, "jsj-wx", openid)
    assert window.window_open(r, "jsj-wx", openid)


def test_a_message_written_almost_48_hours_ago_no_longer_opens_the_window(r):
    from app.notify import window

    openid = "o" + "y" * 27
    window.touch(r, "jsj-wx", openid, at=now().timestamp() - window.WINDOW + 60)
    assert not window.window_open(r, "jsj-wx", openid)


def test_escalation_may_not_come_before_the_reminder():
    from app.core.errors import ConfigError
    from app.core.settings import load_settings

    with pytest.raises(ConfigError, match="REVIEW_ESCALATE_AFTER"):
        load_settings(
            {"QIANFA_REVIEW_REMIND_AFTER": "7200", "QIANFA_REVIEW_ESCALATE_AFTER": "3600"}
        )


def test_the_template_is_set_from_the_command_line(r):
    from click.testing import CliRunner

    import app.cli

    w = world(r)
    runner = CliRunner()
    result = runner.invoke(app.cli.cli, ["platform", "notify-template", w.platform, TEMPLATE])
    assert result.exit_code == 0, result.output
    assert TEMPLATE in result.output
    assert deliver.template_for(r, w.platform) == TEMPLATE
    (record,) = audit.records(r, action="platform.notify_template")
    assert record["platform"] == w.platform
    runner.invoke(app.cli.cli, ["platform", "notify-template", w.platform])
    assert deliver.template_for(r, w.platform) == ""
