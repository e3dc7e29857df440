"""The MP back office: publishing, mass sends, edits and deletions that bypass Qianfa,
seen through WeChat's own API (``freepublish/batchget|getarticle``) as Qianfa sees them."""

import pytest

from sandbox.client import ControlError
from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)


@pytest.fixture
def sandbox(receiver):
    with running_sandbox() as (url, control, _):
        register_sample_account(control, server_url=receiver.url)
        control.add_user(SAMPLE_APPID, nickname="李同学")
        yield control, SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)


def online(client) -> list[dict]:
    page = client.post("freepublish/batchget", data={"offset": 0, "count": 20, "no_content": 0})
    return page["item"]


def test_a_backoffice_article_is_online_at_once_and_listed_by_batchget(sandbox):
    control, client = sandbox
    article = control.backoffice_publish(SAMPLE_APPID, title="未经审核", content="<p>直接发</p>")
    [listed] = online(client)
    assert listed["article_id"] == article["article_id"]
    assert listed["content"]["news_item"][0]["title"] == "未经审核"
    assert "直接发" in listed["content"]["news_item"][0]["content"]


def test_with_notify_wechat_pushes_publishjobfinish_with_an_unknown_publish_id(sandbox, receiver):
    control, _ = sandbox
    article = control.backoffice_publish(SAMPLE_APPID, title="后台", content="x", notify=True)
    events = control.wait_until(lambda: receiver.events("PUBLISHJOBFINISH"), what="event")
    info = events[0]._data["PublishEventInfo"]
    assert info["article_id"] == article["article_id"] and info["publish_status"] == "0"


def test_an_edit_moves_update_time_and_changes_what_getarticle_returns(sandbox):
    control, client = sandbox
    article = control.backoffice_publish(SAMPLE_APPID, title="原题", content="原文")
    control.backoffice_edit(SAMPLE_APPID, article["article_id"], content="改过的正文")
    [listed] = online(client)
    assert listed["update_time"] > article["update_time"]
    got = client.post("freepublish/getarticle", data={"article_id": article["article_id"]})
    assert got["news_item"][0]["content"] == "改过的正文"


def test_a_deleted_article_leaves_batchget_and_a_second_delete_is_53600(sandbox):
    control, client = sandbox
    article = control.backoffice_publish(SAMPLE_APPID, title="删除我", content="x")
    client.post("freepublish/delete", data={"article_id": article["article_id"], "index": 0})
    assert online(client) == []
    with pytest.raises(ControlError, match="53600"):
        control.backoffice_delete(SAMPLE_APPID, article["article_id"])


def test_a_backoffice_mass_send_reaches_followers_and_reports_massendjobfinish(sandbox, receiver):
    control, client = sandbox
    sent = control.backoffice_mass(SAMPLE_APPID, content="后台群发的通知")
    control.wait_until(lambda: receiver.events("MASSSENDJOBFINISH"), what="MASSSENDJOBFINISH")
    [user] = control.account(SAMPLE_APPID)["users"]
    assert user["chat"][-1]["content"] == "后台群发的通知"
    assert sent["msg_id"] and online(client) == []  # a mass send is not in batchget


def test_bad_backoffice_requests_are_refused_with_a_reason(sandbox):
    control, _ = sandbox
    with pytest.raises(ControlError, match="title"):
        control.backoffice_publish(SAMPLE_APPID, content="没有标题")
    with pytest.raises(ControlError, match="53600"):
        control.backoffice_edit(SAMPLE_APPID, "nope", content="x")
    control.change_account(SAMPLE_APPID, kind="subscription", verified=False)
    with pytest.raises(ControlError, match="48001"):
        control.backoffice_publish(SAMPLE_APPID, title="t", content="x")
