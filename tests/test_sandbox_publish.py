"""Publishing: freepublish jobs, PUBLISHJOBFINISH, articles, and who may publish."""

import io

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def sandbox(receiver):
    # Jobs wait an hour unless a test flushes them: "still publishing" is observable.
    with running_sandbox(publish_delay=3600.0, mass_delay=3600.0) as (url, control, world):
        register_sample_account(control, server_url=receiver.url)
        yield control, SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)


def add_draft(client, *titles) -> str:
    thumb = client.material.add("image", ("cover.png", io.BytesIO(PNG)))["media_id"]
    articles = [{"title": t, "content": f"<p>{t}</p>", "thumb_media_id": thumb} for t in titles]
    return client.post("draft/add", data={"articles": articles})["media_id"]


def errcode_of(call) -> int:
    with pytest.raises(WeChatClientException) as raised:
        call()
    return raised.value.errcode


def wait_for_event(control, receiver, name: str) -> dict:
    events = control.wait_until(lambda: receiver.events(name), what=name)
    return events[0]._data


def test_publish_job_runs_and_delivers_publishjobfinish(sandbox, receiver):
    """A publish job stays at status 1 until it finishes, then delivers PUBLISHJOBFINISH."""
    control, client = sandbox
    media_id = add_draft(client, "招生简章", "附件说明")
    submitted = client.post("freepublish/submit", data={"media_id": media_id})
    publish_id = submitted["publish_id"]
    assert isinstance(publish_id, int) and submitted["errcode"] == 0
    status = client.post("freepublish/get", data={"publish_id": str(publish_id)})
    assert (status["publish_status"], status["fail_idx"]) == (1, [])

    control.flush_jobs()
    event = wait_for_event(control, receiver, "PUBLISHJOBFINISH")
    info = event["PublishEventInfo"]
    assert event["FromUserName"] == "mphelper"
    assert (info["publish_id"], info["publish_status"]) == (str(publish_id), "0")
    assert [item["idx"] for item in info["article_detail"]["item"]] == ["1", "2"]

    status = client.post("freepublish/get", data={"publish_id": publish_id})
    assert status["publish_status"] == 0 and status["article_id"] == info["article_id"]
    assert client.get("draft/count") == {"total_count": 0}
    titles = client.post("freepublish/getarticle", data={"article_id": status["article_id"]})
    assert [item["title"] for item in titles["news_item"]] == ["招生简章", "附件说明"]
    page = client.post("freepublish/batchget", data={"offset": 0, "count": 10, "no_content": 1})
    assert page["total_count"] == 1 and page["item"][0]["article_id"] == status["article_id"]


def test_failed_publish_reports_fail_idx(sandbox, receiver):
    """An account set to fail its next publish (常规失败) reports status 3 with fail_idx."""
    control, client = sandbox
    control.change_account(SAMPLE_APPID, publish_outcomes=[3])
    media_id = add_draft(client, "会失败的文章")
    publish_id = client.post("freepublish/submit", data={"media_id": media_id})["publish_id"]
    control.flush_jobs()
    info = wait_for_event(control, receiver, "PUBLISHJOBFINISH")["PublishEventInfo"]
    assert (info["publish_status"], info["fail_idx"]) == ("3", "1")
    status = client.post("freepublish/get", data={"publish_id": publish_id})
    assert (status["publish_status"], status["fail_idx"]) == (3, [1])
    assert client.get("draft/count") == {"total_count": 1}


def test_delete_published_article(sandbox, receiver):
    """freepublish/delete counts from 1; deleting every article sets publish_status 5."""
    control, client = sandbox
    media_id = add_draft(client, "一", "二")
    publish_id = client.post("freepublish/submit", data={"media_id": media_id})["publish_id"]
    control.flush_jobs()
    wait_for_event(control, receiver, "PUBLISHJOBFINISH")
    article_id = client.post("freepublish/get", data={"publish_id": publish_id})["article_id"]
    client.post("freepublish/delete", data={"article_id": article_id, "index": 2})
    items = client.post("freepublish/getarticle", data={"article_id": article_id})["news_item"]
    assert [item["is_deleted"] for item in items] == [False, True]
    client.post("freepublish/delete", data={"article_id": article_id, "index": 0})
    assert client.post("freepublish/get", data={"publish_id": publish_id})["publish_status"] == 5
    gone = client.post
    assert errcode_of(lambda: gone("freepublish/getarticle", data={"article_id": article_id})) == (
        53600
    )


def test_unverified_account_cannot_publish(sandbox):
    """An unverified 公众号 may keep drafts but every freepublish call answers 48001."""
    control, client = sandbox
    control.change_account(SAMPLE_APPID, kind="subscription", verified=False)
    media_id = add_draft(client, "草稿可以")
    assert errcode_of(lambda: client.post("freepublish/submit", data={"media_id": media_id})) == (
        48001
    )
    batch = {"offset": 0, "count": 10}
    assert errcode_of(lambda: client.post("freepublish/batchget", data=batch)) == 48001


def test_publish_bad_ids(sandbox):
    """An unknown draft is 40007; an unknown publish_id 53502; an unknown article_id 53600."""
    _, client = sandbox
    assert errcode_of(lambda: client.post("freepublish/submit", data={"media_id": "x"})) == 40007
    assert errcode_of(lambda: client.post("freepublish/get", data={"publish_id": 1})) == 53502
    get_article = {"article_id": "nope"}
    assert errcode_of(lambda: client.post("freepublish/getarticle", data=get_article)) == 53600


def test_publish_id_as_documented_string(sandbox):
    """With publish_id_type "string" the id comes back as the docs show it."""
    control, client = sandbox
    control.configure(publish_id_type="string")
    media_id = add_draft(client, "文档格式")
    assert isinstance(
        client.post("freepublish/submit", data={"media_id": media_id})["publish_id"], str
    )


def test_mass_send_of_a_draft_puts_it_online(sandbox, receiver):
    """Mass-sending an mpnews draft removes it from the draft box and reports its article URL."""
    control, client = sandbox
    user = control.add_user(SAMPLE_APPID, nickname="李同学")["openid"]
    media_id = add_draft(client, "群发的文章")
    answer = client.message.send_mass_article(None, media_id, is_to_all=True)
    assert answer["msg_data_id"]
    control.flush_jobs()
    event = wait_for_event(control, receiver, "MASSSENDJOBFINISH")
    assert event["ArticleUrlResult"]["Count"] == "1"
    assert client.get("draft/count") == {"total_count": 0}
    line = control.user(SAMPLE_APPID, user)["chat"][-1]
    assert line["articles"][0]["title"] == "群发的文章"


def test_reset_drops_jobs_still_pending(sandbox, receiver):
    """A publish job submitted before a reset never finishes nor calls the new world's server."""
    control, client = sandbox
    client.post("freepublish/submit", data={"media_id": add_draft(client, "重置之前")})
    control.reset(seed=0)
    register_sample_account(control, server_url=receiver.url)
    control.flush_jobs()
    control.wait_idle()
    assert receiver.events("PUBLISHJOBFINISH") == []


def test_a_draft_submitted_twice_becomes_one_article(sandbox):
    """A draft leaves the box once published, so a second job on it ends with status 3 and
    batchget lists one article, whose cover names the draft it came from."""
    control, client = sandbox
    media_id = add_draft(client, "招生简章")
    thumb = client.post("draft/get", data={"media_id": media_id})["news_item"][0]["thumb_media_id"]
    first = client.post("freepublish/submit", data={"media_id": media_id})["publish_id"]
    second = client.post("freepublish/submit", data={"media_id": media_id})["publish_id"]
    control.flush_jobs()
    control.wait_idle()
    statuses = [
        client.post("freepublish/get", data={"publish_id": str(pid)})["publish_status"]
        for pid in (first, second)
    ]
    assert statuses == [0, 3]
    online = client.post("freepublish/batchget", data={"offset": 0, "count": 20, "no_content": 1})
    assert online["total_count"] == 1
    assert online["item"][0]["content"]["news_item"][0]["thumb_media_id"] == thumb
    assert errcode_of(lambda: client.post("draft/get", data={"media_id": media_id})) == 40007
