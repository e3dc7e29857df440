"""``draft/add|get|update|delete|batchget|count``; only ``count`` is a GET."""

from flask import Blueprint

from sandbox import drafts
from sandbox.api.base import Call, wechat_api

bp = Blueprint("sandbox_draft", __name__, url_prefix="/cgi-bin")
OK = {"errcode": 0, "errmsg": "ok"}


@wechat_api(bp, "draft/add")
def add(call: Call) -> dict:
    return {"media_id": drafts.add(call.world, call.account, call.json.get("articles"))}


@wechat_api(bp, "draft/get")
def get(call: Call) -> dict:
    return {"news_item": drafts.news_items(drafts.get(call.account, call.text("media_id")))}


@wechat_api(bp, "draft/update")
def update(call: Call) -> dict:
    drafts.update(
        call.world,
        call.account,
        call.text("media_id"),
        call.integer("index"),
        call.json.get("articles"),
    )
    return OK


@wechat_api(bp, "draft/delete")
def delete(call: Call) -> dict:
    drafts.get(call.account, call.text("media_id"))
    del call.account.drafts[call.text("media_id")]
    return OK


@wechat_api(bp, "draft/count", methods=("GET",))
def count(call: Call) -> dict:
    return {"total_count": len(call.account.drafts)}


@wechat_api(bp, "draft/batchget")
def batchget(call: Call) -> dict:
    with_content = call.integer("no_content") != 1
    page = drafts.page(
        list(call.account.drafts.values()), call.integer("offset"), call.integer("count")
    )
    items = [
        {
            "media_id": draft["media_id"],
            "content": {"news_item": drafts.news_items(draft, with_content)},
            "update_time": draft["update_time"],
        }
        for draft in page
    ]
    return {"total_count": len(call.account.drafts), "item_count": len(items), "item": items}
