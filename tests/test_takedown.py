"""Take-down (下架) against the sandbox: the propaganda department names an online article
(an alert, a draft Qianfa published, or its link) with a reason; a worker calls
``freepublish/delete``, the article leaves ``batchget``, the alert that led to it is
resolved, and the author, the responsible person and whoever asked are told."""

import pytest

from app.channels import chat
from app.core import alerts, alertstate, audit
from app.core.masterkey import load_keyring
from app.monitoring import reconcile
from app.publishing import schedule
from app.registry import platforms
from app.wechat.client import WeChatAPI
from tests.console_helpers import signed_in
from tests.factories import snapshot
from tests.notify_helpers import sandbox_office  # noqa: F401
from tests.publishing_helpers import approved, article_content, finish, image_server
from tests.wechat_helpers import APPID


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    """The office with its propaganda reviewer, responsible person and author bound."""
    for person in (
        sandbox_office.w.propaganda,
        sandbox_office.w.responsible,
        sandbox_office.w.admin,
    ):
        sandbox_office.bind(person)
        sandbox_office.writes(person)
    return sandbox_office


def say(o, person: str, text: str) -> str:
    message = chat.Inbound(
        openid=o.openids[person], type="text", person=person, text=text, authenticated=True
    )
    platform = platforms.get(o.r, o.w.platform)
    return chat.respond(o.r, load_keyring(o.settings), platform, message)


def online_ids(o) -> set[str]:
    api = WeChatAPI.for_platform(o.r, o.w.platform, o.settings)
    return {item["article_id"] for item in api.freepublish_page(0, 20)["items"]}


def bypass(o, title="未经审核的通知") -> tuple[str, str]:
    """A post published in the MP back office, reconciled: its article id and alert number."""
    article, number = bypass_article(o, title)
    return article["article_id"], number


def bypass_article(o, title: str) -> tuple[dict, str]:
    article = o.control.backoffice_publish(APPID, title=title, content="<p>直接发</p>")
    api = WeChatAPI.for_platform(o.r, o.w.platform, o.settings)
    assert reconcile.reconcile(o.r, api, o.w.platform).alerts == ["unreviewed_publication"]
    o.settle()  # the alert itself is delivered
    [case] = alertstate.open_cases(o.r)
    return article, case.number


def told(o, person: str) -> list[str]:
    return [line["content"] for line in o.received(person) if "文章下架" in line["content"]]


def test_taking_down_the_post_an_alert_named_removes_it_and_resolves_the_alert(o):
    article_id, number = bypass(o)
    assert article_id in online_ids(o)

    reply = say(o, o.w.propaganda, f"下架 {number} 未经审核发布,违反第十四条")
    assert "已提交下架" in reply and "未经审核的通知" in reply
    o.settle()

    assert article_id not in online_ids(o)
    case = alertstate.get(o.r, number)
    assert case.state == alertstate.RESOLVED and "未经审核发布" in case.note
    [done] = [rec for rec in audit.records(o.r) if rec["action"] == "monitoring.takedown"]
    assert (done["decision"], done["person"]) == ("removed", o.w.propaganda)
    for person in (o.w.propaganda, o.w.responsible):
        [notice] = told(o, person)
        assert "未经审核的通知" in notice and "已从平台删除" in notice
    assert "已于" in say(o, o.w.propaganda, f"下架 {number} 再下一次")


def test_a_draft_qianfa_published_is_taken_down_by_its_number_and_its_author_told(o):
    with image_server() as images:
        content = article_content([], title="程序设计竞赛", cover_image=images.url("/cover.png"))
        draft = approved(o.r, o.w, "article", content)
        schedule.schedule(o.r, draft.id, settings=o.settings)
        assert finish(o.r, o.control, draft.id, o.settings) == "done"
        pub = schedule.publication_of(o.r, draft.id)
    assert pub.article_id in online_ids(o)

    assert "已提交下架" in say(o, o.w.propaganda, f"下架 {draft.id.lower()} 比赛结果有误")
    o.settle()

    assert pub.article_id not in online_ids(o)
    [notice] = told(o, o.w.admin)
    assert "程序设计竞赛" in notice and "比赛结果有误" in notice


def test_a_link_names_the_article_too(o):
    article, _ = bypass_article(o, "链接下架")
    url, article_id = article["news_item"][0]["url"], article["article_id"]
    assert "已提交下架" in say(o, o.w.propaganda, f"下架 {url} 链接指向的文章有误")
    o.settle()
    assert article_id not in online_ids(o)


def test_an_article_already_gone_is_reported_not_an_error(o):
    article_id, number = bypass(o)
    o.control.backoffice_delete(APPID, article_id)

    say(o, o.w.propaganda, f"下架 {number} 未经审核发布")
    o.settle()

    [done] = [rec for rec in audit.records(o.r) if rec["action"] == "monitoring.takedown"]
    assert done["decision"] == "already_gone"
    assert alertstate.get(o.r, number).state == alertstate.RESOLVED
    [notice] = told(o, o.w.propaganda)
    assert "平台上已没有这篇文章" in notice


def test_only_the_propaganda_department_takes_down_and_bad_requests_change_nothing(o):
    article_id, number = bypass(o)
    alerts.queue(o.r, "publish_failed", "发布失败", platform=o.w.platform)
    plain = alertstate.open_cases(o.r)[-1].number
    before = unaudited(o)
    assert "只有" in say(o, o.w.admin, f"下架 {number} 我也想删")
    assert "请写明下架原因" in say(o, o.w.propaganda, f"下架 {number}")
    assert "看不懂" in say(o, o.w.propaganda, "下架 某篇文章 有问题")
    assert "没有找到" in say(o, o.w.propaganda, "下架 https://mp.weixin.qq.com/s/none 有问题")
    assert "没有指向" in say(o, o.w.propaganda, f"下架 {plain} 有问题")
    assert "没有告警" in say(o, o.w.propaganda, "下架 A99 有问题")
    assert unaudited(o) == before
    o.settle()
    assert article_id in online_ids(o)


def unaudited(o) -> dict:
    """Everything in Redis but the audit trail (where refusals are recorded)."""
    return {key: value for key, value in snapshot(o.r).items() if b"audit" not in key}


def test_the_console_button_takes_down_the_article_an_alert_names(o):
    article_id, number = bypass(o)
    client, token = signed_in(o.settings, o.r, o.w.propaganda)
    page = client.get("/console/alerts").data.decode()
    assert 'value="takedown"' in page
    refused = client.post(f"/console/alerts/{number}", data={"csrf": token, "action": "takedown"})
    assert refused.status_code == 400 and "下架原因" in refused.data.decode()
    asked = client.post(
        f"/console/alerts/{number}",
        data={"csrf": token, "action": "takedown", "note": "未经审核发布"},
    )
    assert asked.status_code == 302
    o.settle()
    assert article_id not in online_ids(o)
    assert alertstate.get(o.r, number).state == alertstate.RESOLVED
