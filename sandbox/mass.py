"""Mass sends (群发): ``message/mass/sendall|send|preview|get`` and MASSSENDJOBFINISH.

A ``clientmsgid`` makes a send idempotent for 24 hours: a repeat answers 45065 with the
msg_id of the first send. Without one, WeChat derives it from the audience and content,
so sending the same thing twice trips 45065 too. A 公众号 may mass-send once a day
(45028 afterwards). ``config.mass_delay`` seconds after submission the messages reach
the users' chats, an mpnews draft goes online and leaves the draft box, and
MASSSENDJOBFINISH is POSTed to the account's server.
"""

import hashlib
import json

from sandbox import callbacks, drafts, media, messaging, publishing
from sandbox.config import beijing_day
from sandbox.errors import WeChatError
from sandbox.state import Account, World

MASS_TYPES = ("mpnews", "text", "voice", "image", "mpvideo", "wxcard")
DEDUPE = 24 * 3600
MAX_CLIENTMSGID = 64  # bytes


def _content(account: Account, body: dict) -> dict:
    msgtype = body.get("msgtype")
    if msgtype not in MASS_TYPES:
        raise WeChatError(40008)
    payload = body.get(msgtype)
    if msgtype == "text":
        return messaging.message_content("text", payload)
    if not isinstance(payload, dict):
        raise WeChatError(47001)
    media_id = str(payload.get("media_id", ""))
    if msgtype == "mpnews":
        draft = drafts.get(account, media_id)
        titles = [article["title"] for article in draft["articles"]]
        return {"msgtype": "mpnews", "media_id": media_id, "titles": titles}
    if msgtype in ("image", "voice") and not media.permanent(account, media_id, (msgtype,)):
        raise WeChatError(40007)
    return {"msgtype": msgtype, "detail": payload}


def _audience(account: Account, body: dict, endpoint: str) -> tuple[str, list[str]]:
    """A description of who the send is for (part of the derived clientmsgid) and openids."""
    if endpoint == "message/mass/send":
        touser = body.get("touser")
        if not isinstance(touser, list) or not 2 <= len(touser) <= 10_000:
            raise WeChatError(40130)
        return "touser:" + ",".join(map(str, touser)), [
            openid for openid in touser if openid in account.users
        ]
    spec = body.get("filter")
    if not isinstance(spec, dict):
        raise WeChatError(47001)
    followers = [user for user in account.users.values() if user.subscribed]
    if spec.get("is_to_all") is True:
        return "all", [user.openid for user in followers]
    tag = spec.get("tag_id", spec.get("group_id"))  # wechatpy 1.8.18 still sends group_id
    if isinstance(tag, bool) or not isinstance(tag, int | str) or not str(tag).isdigit():
        raise WeChatError(47001)
    return f"tag:{tag}", [user.openid for user in followers if int(tag) in user.tags]


def _client_msg_id(body: dict, scope: str) -> str:
    given = body.get("clientmsgid")
    if given is not None:
        if not isinstance(given, str) or len(given.encode("utf-8")) > MAX_CLIENTMSGID:
            raise WeChatError(45067)
        return given
    msgtype = body.get("msgtype")
    content = json.dumps(body.get(msgtype), sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(f"{scope}|{msgtype}|{content}".encode()).hexdigest()


def _check_duplicate(world: World, account: Account, key: tuple) -> None:
    earlier = account.client_msg_ids.get(key)
    if earlier and world.now() - earlier[1] < DEDUPE:
        raise WeChatError(45065, msg_id=earlier[0])


def _check_daily_cap(world: World, account: Account) -> None:
    if account.kind == "service":
        return
    today = beijing_day(world.now())
    if any(beijing_day(send["submitted_at"]) == today for send in account.mass_sends.values()):
        raise WeChatError(45028)


def send(world: World, account: Account, body: dict, endpoint: str) -> dict:
    """``message/mass/sendall`` and ``message/mass/send``: queue a mass-send job."""
    if endpoint == "message/mass/send" and (account.kind != "service" or not account.verified):
        raise WeChatError(48001)
    content = _content(account, body)
    scope, recipients = _audience(account, body, endpoint)
    key = ("mass", _client_msg_id(body, scope))
    _check_duplicate(world, account, key)
    _check_daily_cap(world, account)
    msg_id = world.next_id("mass")
    job = {
        "msg_id": msg_id,
        "msg_status": "SENDING",
        "clientmsgid": key[1],
        "audience": scope,
        "recipients": recipients,
        "submitted_at": int(world.now()),
        "received_at": world.now(),  # the same moment to the microsecond, for benchmarks
        **content,
    }
    answer = {"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id}
    if content["msgtype"] == "mpnews":
        job["msg_data_id"] = answer["msg_data_id"] = world.next_id("msg_data")
    account.mass_sends[str(msg_id)] = job
    account.client_msg_ids[key] = (msg_id, world.now())
    world.scheduler.call_later(world.config.mass_delay, lambda: finish(world, account, msg_id))
    return answer


def _chat_line(job: dict, article: dict | None) -> dict:
    if job["msgtype"] == "mpnews" and article:
        items = article["news_item"]
        return {
            "msgtype": "mpnews",
            "article_id": article["article_id"],
            "articles": [{"title": item["title"], "url": item["url"]} for item in items],
        }
    keep = ("content", "detail", "titles")
    return {"msgtype": job["msgtype"], **{k: job[k] for k in keep if k in job}}


def finish(world: World, account: Account, msg_id: int) -> None:
    """Hand the messages to the users, then POST MASSSENDJOBFINISH."""
    with world.lock:
        if not world.holds(account):
            return
        job = account.mass_sends[str(msg_id)]
        article = None
        draft = account.drafts.get(job.get("media_id", ""))
        if job["msgtype"] == "mpnews" and draft is not None:
            article = publishing.put_online(world, account, draft, job["msg_data_id"], "群发")
            job["article_id"] = article["article_id"]
        line = _chat_line(job, article)
        for openid in job["recipients"]:
            if user := account.user(openid):
                user.note(world.now(), "received", "群发", **line)
        job["msg_status"] = "SEND_SUCCESS"
        event = finish_event(world, account, job, article)
    callbacks.deliver_later(world, account, event)


def finish_event(world: World, account: Account, job: dict, article: dict | None) -> dict:
    count = len(job["recipients"])
    event = {
        "ToUserName": account.original_id,
        "FromUserName": publishing.MPHELPER,
        "CreateTime": int(world.now()),
        "MsgType": "event",
        "Event": "MASSSENDJOBFINISH",
        "MsgID": job["msg_id"],
        "Status": "send success",
        "TotalCount": count,
        "FilterCount": count,
        "SentCount": count,
        "ErrorCount": 0,
    }
    if article is not None:
        items = [
            {"ArticleIdx": index, "ArticleUrl": item["url"]}
            for index, item in enumerate(article["news_item"], start=1)
        ]
        event["CopyrightCheckResult"] = {"Count": 0, "ResultList": "", "CheckState": 1}
        event["ArticleUrlResult"] = {"Count": len(items), "ResultList": {"item": items}}
    return event


def preview(world: World, account: Account, body: dict) -> dict:
    """``message/mass/preview``: straight into one user's chat, by openid or WeChat id."""
    content = _content(account, body)
    wxname = body.get("towxname")
    if wxname:
        user = next((u for u in account.users.values() if u.wxname == wxname), None)
    else:
        user = account.user(body.get("touser") or "")
    if user is None:
        raise WeChatError(40003)
    key = ("preview", body.get("clientmsgid"))
    if key[1] is not None:
        _check_duplicate(world, account, key)
    msg_id = world.next_id("mass")
    if key[1] is not None:
        account.client_msg_ids[key] = (msg_id, world.now())
    user.note(world.now(), "received", "群发预览", **content)
    return {"errcode": 0, "errmsg": "preview success", "msg_id": msg_id}


def status(account: Account, msg_id) -> dict:
    """``message/mass/get``."""
    job = account.mass_sends.get(str(msg_id))
    if job is None:
        raise WeChatError(47003, "msg_id")
    return {"msg_id": job["msg_id"], "msg_status": job["msg_status"]}
