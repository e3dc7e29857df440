"""The MP back office (公众平台后台): what an administrator does at mp.weixin.qq.com.

Qianfa cannot stop someone who logs into the back office and publishes directly; it can
only notice. These control-API routes play that person so tests and the demo show the
alert arriving: publish an article (it goes online and into ``freepublish/batchget``),
mass-send a text or an article to every follower (MASSSENDJOBFINISH follows, as for any
mass send; a mass-sent article is not in ``batchget``, as in WeChat), edit an online
article (its ``update_time`` moves), and delete one (``freepublish/delete``'s rules).
The back office needs no cover material, so none is checked.
"""

from flask import Blueprint

from sandbox import callbacks, mass, publishing
from sandbox.api.base import current_world
from sandbox.control import _account, _bad_request, _body
from sandbox.errors import WeChatError
from sandbox.state import Account, StateError, World

bp = Blueprint(
    "sandbox_backoffice", __name__, url_prefix="/sandbox/api/accounts/<appid>/backoffice"
)
EDITABLE = ("title", "content", "author", "digest")
bp.register_error_handler(ValueError, _bad_request)


def _text(spec: dict, name: str, required: bool = False) -> str:
    value = spec.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise StateError(f"{name} 必须是{'非空' if required else ''}字符串")
    return value


def _article(spec: dict) -> dict:
    return {
        "article_type": "news",
        "title": _text(spec, "title", required=True),
        "author": _text(spec, "author"),
        "digest": _text(spec, "digest"),
        "content": _text(spec, "content", required=True),
        "content_source_url": "",
        "thumb_media_id": "",
        "thumb_url": "",
        "need_open_comment": 0,
        "only_fans_can_comment": 0,
    }


def _draft(world: World, account: Account, spec: dict) -> dict:
    """A draft made in the back office's editor, straight into the draft box."""
    media_id = world.random_text(43)
    now = int(world.now())
    draft = {"media_id": media_id, "articles": [_article(spec)], "create_time": now}
    account.drafts[media_id] = {**draft, "update_time": now}
    return account.drafts[media_id]


def publish(world: World, account: Account, spec: dict) -> dict:
    """发表 in the back office: online at once. With ``notify``, WeChat also pushes
    PUBLISHJOBFINISH with a publish_id the account's server never asked for."""
    publishing.may_publish(account)
    draft = _draft(world, account, spec)
    publish_id, msg_data_id = world.next_id("publish"), world.next_id("msg_data")
    article = publishing.put_online(world, account, draft, msg_data_id, "发布")
    job = {
        "publish_id": publish_id,
        "msg_data_id": msg_data_id,
        "media_id": draft["media_id"],
        "publish_status": 0,
        "submitted_at": int(world.now()),
        "article_id": article["article_id"],
        "article_detail": {
            "count": len(article["news_item"]),
            "item": [
                {"idx": idx, "article_url": item["url"]}
                for idx, item in enumerate(article["news_item"], start=1)
            ],
        },
        "fail_idx": [],
        "backoffice": True,
    }
    account.publish_jobs[str(publish_id)] = job
    if spec.get("notify") is True:
        callbacks.deliver_later(world, account, publishing.finish_event(world, account, job))
    return article


def mass_send(world: World, account: Account, spec: dict) -> dict:
    """群发 in the back office, to every follower: text, or an article (``title``)."""
    if spec.get("title") is not None:
        draft = _draft(world, account, spec)
        body = {"msgtype": "mpnews", "mpnews": {"media_id": draft["media_id"]}}
    else:
        body = {"msgtype": "text", "text": {"content": _text(spec, "content", required=True)}}
    body["filter"] = {"is_to_all": True}
    return mass.send(world, account, body, "message/mass/sendall")


def edit(world: World, account: Account, article_id: str, spec: dict) -> dict:
    """Change an online article in place; ``index`` counts from 1, as freepublish does."""
    article = publishing.find_article(account, article_id)
    index = spec.get("index", 1)
    if isinstance(index, bool) or not isinstance(index, int):
        raise StateError("index 必须是整数")
    if not 1 <= index <= len(article["news_item"]):
        raise StateError(f"没有第 {index} 篇")
    changes = {name: _text(spec, name) for name in EDITABLE if name in spec}
    if not changes:
        raise StateError(f"没有可修改的字段:{'、'.join(EDITABLE)}")
    article["news_item"][index - 1].update(changes)
    # A later update_time even within the same second, so readers see a new version.
    article["update_time"] = max(int(world.now()), article["update_time"] + 1)
    return article


@bp.post("/articles")
def publish_route(appid: str):
    world = current_world()
    with world.lock:
        return _answer(lambda: publish(world, _account(world, appid), _body()), 201)


@bp.post("/mass")
def mass_route(appid: str):
    world = current_world()
    with world.lock:
        return _answer(lambda: mass_send(world, _account(world, appid), _body()), 201)


@bp.patch("/articles/<article_id>")
def edit_route(appid: str, article_id: str):
    world = current_world()
    with world.lock:
        return _answer(lambda: edit(world, _account(world, appid), article_id, _body()))


@bp.delete("/articles/<article_id>")
def delete_route(appid: str, article_id: str):
    world = current_world()
    with world.lock:
        account = _account(world, appid)
        index = _body().get("index", 0)
        return _answer(lambda: publishing.delete(world, account, article_id, index) or {})


def _answer(action, status: int = 200):
    """WeChat's refusals (48001 for an unverified account, 53600 for a gone article) as
    the control API's 400 with the errcode."""
    try:
        return action(), status
    except WeChatError as exc:
        raise StateError(f"微信拒绝:{exc.errcode}") from exc
