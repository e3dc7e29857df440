"""``freepublish/submit|get|getarticle|batchget|delete`` (服务号 or verified 公众号 only)."""

from flask import Blueprint

from sandbox import drafts, publishing
from sandbox.api.base import Call, wechat_api

bp = Blueprint("sandbox_freepublish", __name__, url_prefix="/cgi-bin")
OK = {"errcode": 0, "errmsg": "ok"}


@wechat_api(bp, "freepublish/submit")
def submit(call: Call) -> dict:
    return {**OK, **publishing.submit(call.world, call.account, call.text("media_id"))}


@wechat_api(bp, "freepublish/get")
def get(call: Call) -> dict:
    return publishing.status(call.world, call.account, call.text("publish_id"))


def _items(article: dict, with_content: bool = True) -> list[dict]:
    return [
        {key: value for key, value in item.items() if with_content or key != "content"}
        for item in article["news_item"]
    ]


@wechat_api(bp, "freepublish/getarticle")
def getarticle(call: Call) -> dict:
    publishing.may_publish(call.account)
    article = publishing.find_article(call.account, call.text("article_id"))
    return {"news_item": _items(article)}


@wechat_api(bp, "freepublish/delete")
def delete(call: Call) -> dict:
    publishing.delete(call.world, call.account, call.text("article_id"), call.integer("index"))
    return OK


@wechat_api(bp, "freepublish/batchget")
def batchget(call: Call) -> dict:
    publishing.may_publish(call.account)
    online = [
        article
        for article in call.account.articles.values()
        if article["via"] == "发布" and not all(i["is_deleted"] for i in article["news_item"])
    ]
    with_content = call.integer("no_content") != 1
    page = drafts.page(online, call.integer("offset"), call.integer("count"))
    items = [
        {
            "article_id": article["article_id"],
            "content": {"news_item": _items(article, with_content)},
            "update_time": article["update_time"],
        }
        for article in page
    ]
    return {"total_count": len(online), "item_count": len(items), "item": items}
