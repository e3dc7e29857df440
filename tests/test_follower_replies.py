"""The default reply is content for followers (art. 14): setting it opens a proposal,
screened like a draft, that only the platform's first responsible person approves; until
then the old reply stays. A blocked text cannot be approved."""

import pytest
from click.testing import CliRunner

import app.cli
from app.core import audit, keys
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.monitoring import replies
from app.registry import people
from app.webhook import config as webhook_config
from tests.console_helpers import signed_in
from tests.factories import KEYRING, OPERATOR, actor, world
from tests.notify_helpers import sandbox_office  # noqa: F401
from tests.test_chat import Phone


@pytest.fixture
def w(r):
    return world(r)


def used(r, platform_id: str) -> str:
    """The reply the webhook's callback script reads."""
    found = r.hget(keys.webhook_config(platform_id), "default_reply")
    return found.decode() if found else ""


def propose(r, w, text: str, who=OPERATOR) -> replies.Proposal:
    webhook_config.configure(r, KEYRING, who, w.platform, default_reply=text)
    return replies.pending(r, w.platform)


def actions(r) -> list[str]:
    return [rec["action"] for rec in audit.records(r) if rec["action"].startswith("webhook.reply")]


def test_a_new_reply_waits_for_the_first_responsible_person(r, w):
    first = propose(r, w, "感谢关注计算机学院")
    assert used(r, w.platform) == "" and first.verdict == "pass"
    replies.approve(r, actor(w.responsible), w.platform, first.digest)
    assert used(r, w.platform) == "感谢关注计算机学院" and replies.pending(r, w.platform) is None

    second = propose(r, w, "欢迎关注,回复「课表」查询课表")
    assert used(r, w.platform) == "感谢关注计算机学院"  # the old one stays meanwhile
    replies.reject(r, actor(w.responsible), w.platform, "语气不妥")
    assert used(r, w.platform) == "感谢关注计算机学院" and replies.pending(r, w.platform) is None
    assert second.digest and actions(r) == [
        "webhook.reply_propose",
        "webhook.reply_approve",
        "webhook.reply_propose",
        "webhook.reply_reject",
    ]


def test_only_the_platform_s_responsible_person_approves_and_not_their_own(r, w):
    proposal = propose(r, w, "感谢关注")
    for who in (w.admin, w.propaganda):
        with pytest.raises(Forbidden):
            replies.approve(r, actor(who), w.platform, proposal.digest)
    people.grant_college_role(r, OPERATOR, w.responsible, "propaganda")  # holds both roles
    own = propose(r, w, "我自己写的回复", who=actor(w.responsible))
    with pytest.raises(Forbidden, match="自己"):
        replies.approve(r, actor(w.responsible), w.platform, own.digest)
    assert used(r, w.platform) == ""


def test_a_blocked_text_cannot_be_approved(r, w):
    proposal = propose(r, w, "本号提供代写论文服务")
    assert proposal.blocked
    with pytest.raises(Conflict, match="禁止发布"):
        replies.approve(r, actor(w.responsible), w.platform, proposal.digest)
    assert used(r, w.platform) == "" and replies.pending(r, w.platform) is not None


def test_a_reply_changed_after_it_was_read_is_not_approved(r, w):
    seen = propose(r, w, "感谢关注")
    propose(r, w, "感谢关注,点击链接领取红包")
    with pytest.raises(Conflict, match="改过"):
        replies.approve(r, actor(w.responsible), w.platform, seen.digest)
    assert used(r, w.platform) == ""


def test_clearing_the_reply_needs_no_review(r, w):
    replies.approve(r, actor(w.responsible), w.platform, propose(r, w, "感谢关注").digest)
    propose(r, w, "新的回复")
    webhook_config.configure(r, KEYRING, OPERATOR, w.platform, default_reply="")
    assert used(r, w.platform) == "" and replies.pending(r, w.platform) is None


def test_the_responsible_person_approves_in_chat(r, w):
    proposal = propose(r, w, "感谢关注计算机学院")
    responsible = Phone(r, w.platform, "oResp0000000000001")
    responsible.bind(w.responsible)
    shown = responsible.say("同意回复")
    assert "感谢关注计算机学院" in shown and f"同意回复 {proposal.digest}" in shown
    assert used(r, w.platform) == ""
    assert "驳回原因" in responsible.say("驳回回复")
    assert "已同意" in responsible.say(f"同意回复 {proposal.digest}")
    assert used(r, w.platform) == "感谢关注计算机学院"
    assert "没有待审核" in responsible.say("approve-reply")


def test_an_administrator_cannot_approve_in_chat(r, w):
    propose(r, w, "感谢关注")
    admin = Phone(r, w.platform, "oAdmin000000000001")
    admin.bind(w.admin)
    assert "只有" in admin.say("同意回复")
    assert used(r, w.platform) == ""


def test_the_cli_says_the_reply_waits_for_review(r, w):
    runner = CliRunner()
    result = runner.invoke(
        app.cli.cli,
        ["webhook", "set", w.platform, "--default-reply", "您好"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0 and "第一责任人审核" in result.output
    shown = runner.invoke(app.cli.cli, ["webhook", "show", w.platform]).output
    assert "待审核的默认回复" in shown and used(r, w.platform) == ""
    empty = runner.invoke(app.cli.cli, ["webhook", "set", w.platform, "--default-reply", " "])
    assert empty.exit_code == 0  # blank clears, as before
    with pytest.raises(InvalidInput):
        replies.reject(r, actor(w.responsible), w.platform, "")


def test_the_responsible_person_is_asked_in_wechat(sandbox_office):  # noqa: F811
    o = sandbox_office
    o.bind(o.w.responsible, "李书记")
    o.writes(o.w.responsible)
    proposal = propose(o.r, o.w, "感谢关注计算机学院")
    o.settle()
    [asked] = [
        m["content"] for m in o.received(o.w.responsible) if "默认回复待审核" in m["content"]
    ]
    assert "感谢关注计算机学院" in asked and f"同意回复 {proposal.digest}" in asked


def test_the_console_shows_a_blocked_proposal_and_refuses_its_approval(r, w, settings):
    propose(r, w, "本号提供代写论文服务")
    client, token = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/platforms/{w.platform}").data.decode()
    assert "本号提供代写论文服务" in page and "命令行操作员 tester" in page and "拦截" in page
    digest = replies.pending(r, w.platform).digest
    refused = client.post(
        f"/console/platforms/{w.platform}/reply/review",
        data={"csrf": token, "action": "approve", "digest": digest},
    )
    assert refused.status_code == 409 and "禁止发布" in refused.data.decode()
    assert used(r, w.platform) == "" and actions(r) == ["webhook.reply_propose"]


def test_only_the_department_proposes_in_the_console_and_not_an_empty_text(r, w, settings):
    admin, token = signed_in(settings, r, w.admin)
    forged = admin.post(
        f"/console/platforms/{w.platform}/reply", data={"csrf": token, "text": "我改的回复"}
    )
    assert forged.status_code == 403 and replies.pending(r, w.platform) is None
    department, token = signed_in(settings, r, w.propaganda)
    empty = department.post(f"/console/platforms/{w.platform}/reply", data={"csrf": token})
    assert empty.status_code == 400 and "请填写新的默认回复" in empty.data.decode()
    assert replies.pending(r, w.platform) is None and actions(r) == []
