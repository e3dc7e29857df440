"""Issue 4 end to end: people on their phones (the sandbox WeChat) talk to Qianfa's webhook,
served in a thread with the real chat commands; an editor's CMS uses the draft API; every
step shows in ``qianfa audit export``."""

import json

import pytest
from click.testing import CliRunner

from app.channels import apitokens
from app.cli.base import cli
from app.core import keys
from app.core.masterkey import load_keyring
from app.drafts import lifecycle
from app.notify import window
from app.registry import bindcodes, credentials
from app.web import create_app
from tests.factories import OPERATOR, world
from tests.sandbox_helpers import (
    SAMPLE_AES_KEY,
    SAMPLE_APPID,
    SAMPLE_TOKEN,
    register_sample_account,
    running_sandbox,
)
from tests.webhook_helpers import ORIGINAL_ID, post, reply_of, serve, signed, text, without_security

ADMIN, RESPONSIBLE, PROPAGANDA = (
    "oAdminPhone00000000000001",
    "oRespPhone0000000000001",
    "oPropPhone0000000000001",
)
FOLLOWER = "oFollowerPhone000000001"


@pytest.fixture
def college(r, settings, request):
    """An active platform bound to the sandbox's sample account, with sealed callback secrets."""
    tier = getattr(request, "param", 2)
    w = world(r, tier=tier, appid=SAMPLE_APPID)
    keyring = load_keyring(settings)
    credentials.set_secret(r, keyring, OPERATOR, w.platform, "token", SAMPLE_TOKEN)
    credentials.set_secret(r, keyring, OPERATOR, w.platform, "encoding_aes_key", SAMPLE_AES_KEY)
    return w


@pytest.fixture
def phones(college, settings, r):
    """The sandbox WeChat calling Qianfa; ``say(openid, text)`` returns what the phone shows."""
    with serve(create_app(settings)) as qianfa, running_sandbox() as (_, control, _world):
        register_sample_account(
            control, server_url=f"{qianfa}/wechat/{college.platform}", original_id=ORIGINAL_ID
        )
        for openid in (ADMIN, RESPONSIBLE, PROPAGANDA, FOLLOWER):
            control.add_user(SAMPLE_APPID, openid=openid, nickname=openid[1:6])
        yield Phones(r, settings, control, college)


class Phones:
    def __init__(self, r, settings, control, college):
        self.r, self.settings, self.control, self.college = r, settings, control, college

    def say(self, openid: str, words: str) -> str | None:
        delivery = self.control.send(SAMPLE_APPID, openid, type="text", content=words)
        assert delivery["outcome"] in ("replied", "acked"), delivery
        if delivery["outcome"] == "acked":
            return None
        return self.control.user(SAMPLE_APPID, openid)["chat"][-1]["content"]

    def bind(self, openid: str, person: str) -> str:
        keyring = load_keyring(self.settings)
        code = bindcodes.issue(self.r, keyring, OPERATOR, person, self.college.platform, ttl=600)
        return self.say(openid, f"绑定 {code}")

    def bind_all(self):
        self.bind(ADMIN, self.college.admin)
        self.bind(RESPONSIBLE, self.college.responsible)
        self.bind(PROPAGANDA, self.college.propaganda)


def exported(draft: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["audit", "export", "--draft", draft])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_bind_submit_view_approve_by_chat(phones, college, r):
    assert "绑定成功" in phones.bind(ADMIN, college.admin)
    assert "第一责任人" in phones.bind(RESPONSIBLE, college.responsible)
    assert "已提交稿件 D1" in phones.say(ADMIN, "投稿 计算机学院举办程序设计竞赛")
    assert "D1" in phones.say(RESPONSIBLE, "待审")
    assert "程序设计竞赛" in phones.say(RESPONSIBLE, "查看 D1")
    assert "审核已全部通过" in phones.say(RESPONSIBLE, "同意 D1")
    assert lifecycle.get(r, "D1").status == lifecycle.APPROVED
    steps = [(row["action"], row["person"]) for row in exported("D1")]
    assert steps == [
        ("draft.create", college.admin),
        ("draft.screen", ""),
        ("draft.submit", college.admin),
        ("draft.approve", college.responsible),
    ]
    bound = {
        row["person"] for row in map(json.loads, _all_export()) if row["action"] == "binding.create"
    }
    assert bound == {college.admin, college.responsible}


def _all_export() -> list[str]:
    result = CliRunner().invoke(cli, ["audit", "export"])
    return [line for line in result.output.splitlines() if line.startswith("{")]


def test_draft_submitted_by_api_is_approved_in_wechat(phones, college, r, settings):
    phones.bind(RESPONSIBLE, college.responsible)
    _token, secret = apitokens.issue(r, OPERATOR, college.admin, [college.platform])
    client = create_app(settings).test_client()
    response = client.post(
        "/api/v1/drafts",
        json={"platform": college.platform, "kind": "text", "content": {"text": "图书馆开放通知"}},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "cms-42"},
    )
    assert response.status_code == 201, response.get_json()
    assert "全部通过" in phones.say(RESPONSIBLE, "同意 D1")
    assert [(row["action"], row["via"]) for row in exported("D1")] == [
        ("draft.create", "api"),
        ("draft.screen", "system"),
        ("draft.submit", "api"),
        ("draft.approve", "chat"),
    ]


@pytest.mark.parametrize("college", [1], indirect=True)
def test_tier_one_platform_needs_the_propaganda_department(phones, college, r):
    phones.bind_all()
    phones.say(ADMIN, "投稿 学校召开全体教职工大会")
    assert "还需:党委宣传部" in phones.say(RESPONSIBLE, "同意 D1")
    assert lifecycle.get(r, "D1").status == lifecycle.IN_REVIEW
    assert "全部通过" in phones.say(PROPAGANDA, "通过 D1")
    approvals = [row["person"] for row in exported("D1") if row["action"] == "draft.approve"]
    assert approvals == [college.responsible, college.propaganda]


def test_flagged_draft_needs_the_propaganda_department(phones, college, r):
    phones.bind_all()
    phones.say(ADMIN, "投稿 关于校园突发停电的说明")
    assert "须经党委宣传部审核" in phones.say(RESPONSIBLE, "敏感 D1 突发事件")
    assert "还需:党委宣传部" in phones.say(RESPONSIBLE, "同意 D1")
    assert "全部通过" in phones.say(PROPAGANDA, "同意 D1")
    actions = [row["action"] for row in exported("D1")]
    assert actions[-3:] == ["draft.flag", "draft.approve", "draft.approve"]


def test_reject_with_reason_then_withdraw(phones, college, r):
    phones.bind_all()
    phones.say(ADMIN, "投稿 有错别字的稿件")
    assert "请写明驳回原因" in phones.say(RESPONSIBLE, "驳回 D1")
    assert "已驳回" in phones.say(RESPONSIBLE, "驳回 D1 第二段有错别字")
    assert "第二段有错别字" in phones.say(ADMIN, "状态 D1")
    assert "已撤回稿件 D1" in phones.say(ADMIN, "撤回 D1 不发了")
    rows = exported("D1")
    assert [row["action"] for row in rows][-2:] == ["draft.reject", "draft.withdraw"]
    assert rows[-2]["reason"] == "第二段有错别字"


def test_follower_is_left_alone_and_cannot_approve(phones, college, r):
    phones.bind_all()
    phones.say(ADMIN, "投稿 运动会通知")
    assert phones.say(FOLLOWER, "你好") is None
    assert "还没有绑定" in phones.say(FOLLOWER, "同意 D1")
    assert lifecycle.get(r, "D1").status == lifecycle.IN_REVIEW


def test_wechat_retry_is_handled_once_with_the_same_reply(college, settings, r):
    """The same message delivered twice (same MsgId) submits one draft and answers alike."""
    r.set(keys.binding(college.platform, ADMIN), college.admin)
    client = create_app(settings).test_client()
    message = text("投稿 校园开放日通知", sender=ADMIN, msg_id=1234567890123456)
    first, second = post(client, message), post(client, message)
    assert first.status_code == second.status_code == 200
    shown = [reply_of(response, openid=ADMIN)["Content"] for response in (first, second)]
    assert shown[0] == shown[1] and "已提交稿件 D1" in shown[0]
    assert len(lifecycle.list_drafts(r)) == 1


def test_replayed_and_forged_callbacks_are_refused(college, settings, r):
    r.set(keys.binding(college.platform, ADMIN), college.admin)
    client = create_app(settings).test_client()
    params, body = signed(text("投稿 第一篇", sender=ADMIN))
    assert (
        client.post(f"/wechat/{college.platform}", query_string=params, data=body).status_code
        == 200
    )
    before = without_security(r)
    replay = client.post(f"/wechat/{college.platform}", query_string=params, data=body)
    forged = client.post(
        f"/wechat/{college.platform}",
        query_string={**params, "msg_signature": "0" * 40, "signature": "0" * 40},
        data=body,
    )
    assert 400 <= replay.status_code < 500 and 400 <= forged.status_code < 500
    after = without_security(r)
    assert after == before
    assert len(lifecycle.list_drafts(r)) == 1
    refused = [json.loads(line)["action"] for line in _all_export()]
    assert sum(action.startswith("webhook.") for action in refused) >= 2


def test_article_composed_from_several_messages(phones, college, r):
    """A draft session across messages: the webhook hands the chat its session each time."""
    phones.bind(ADMIN, college.admin)
    assert "开始投稿" in phones.say(ADMIN, "投稿")
    assert "第 1 段" in phones.say(ADMIN, "今天学校举行了秋季运动会。")
    delivery = phones.control.send(SAMPLE_APPID, ADMIN, type="image")
    assert delivery["outcome"] == "replied"
    assert "标题已设为" in phones.say(ADMIN, "标题 秋季运动会开幕")
    assert "已提交稿件 D1" in phones.say(ADMIN, "提交")
    version = lifecycle.version(r, "D1")
    assert version.kind == lifecycle.ARTICLE and version.content["title"] == "秋季运动会开幕"
    # The sandbox serves its default picture itself, so it can be fetched offline.
    assert version.content["cover_image"].endswith("/pictures/sample-1.png")


def test_writing_to_the_account_opens_the_48_hour_window(phones, college, r):
    """What a user writes opens the customer-service window; subscribing alone does not."""
    assert not window.window_open(r, college.platform, FOLLOWER)
    phones.control.send(SAMPLE_APPID, FOLLOWER, type="event", event="subscribe")
    assert not window.window_open(r, college.platform, FOLLOWER)
    phones.say(FOLLOWER, "你好")
    assert window.window_open(r, college.platform, FOLLOWER)
