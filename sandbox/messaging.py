"""Messages an account pushes to one user: customer-service (客服) and template messages.

A customer-service message needs an open window (WeChat's 2023 rule): a message from the
user opens 48 hours for 5 messages; a subscribe, menu click or scan opens 1 minute for 3.
No open window is 45015, a used-up one 45047. Template messages need a 服务号, a known
template and a subscribed user who has not refused them (43004, 43101), and are
followed by a TEMPLATESENDJOBFINISH event.
"""

from sandbox import callbacks
from sandbox.errors import WeChatError
from sandbox.state import Account, User, Window, World

WINDOWS = {"message": (48 * 3600, 5), "event": (60, 3)}
WINDOW_EVENTS = ("subscribe", "CLICK", "scancode_push", "scancode_waitmsg", "SCAN")
CUSTOM_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
)
TEXT_LIMIT = 2048  # bytes
DEDUPE_TEMPLATE = 600  # client_msg_id lives 10 minutes


def open_window(world: World, user: User, kind: str) -> None:
    """Record that the user just wrote (``message``) or clicked/subscribed (``event``)."""
    span, limit = WINDOWS[kind]
    user.windows[kind] = Window(world.now(), span, limit)


def _take_window(world: World, user: User) -> None:
    now = world.now()
    live = [user.windows[k] for k in WINDOWS if k in user.windows]
    live = [window for window in live if window.is_open(now)]
    if not live or not user.subscribed:
        raise WeChatError(45015)
    for window in live:
        if window.used < window.limit:
            window.used += 1
            return
    raise WeChatError(45047)


def recipient(account: Account, openid) -> User:
    user = account.user(openid) if isinstance(openid, str) else None
    if user is None:
        raise WeChatError(40003)
    return user


def message_content(msgtype: str, payload) -> dict:
    """What the user's phone shows for a pushed message of ``msgtype``."""
    if not isinstance(payload, dict):
        raise WeChatError(47001)
    if msgtype == "text":
        content = payload.get("content")
        if not isinstance(content, str) or not content:
            raise WeChatError(44004)
        if len(content.encode("utf-8")) > TEXT_LIMIT:
            raise WeChatError(45002)
        return {"msgtype": "text", "content": content}
    if msgtype == "news":
        articles = payload.get("articles")
        if not isinstance(articles, list) or len(articles) != 1:
            raise WeChatError(45008)
        return {"msgtype": "news", "articles": articles}
    return {"msgtype": msgtype, "detail": payload}


def custom_send(world: World, account: Account, body: dict) -> None:
    """``message/custom/send``: push one message into the user's chat, window allowing."""
    if not account.verified:
        raise WeChatError(48001)
    user = recipient(account, body.get("touser"))
    msgtype = body.get("msgtype")
    if msgtype not in CUSTOM_TYPES:
        raise WeChatError(40008)
    content = message_content(msgtype, body.get(msgtype))
    _take_window(world, user)
    service = body.get("customservice")
    kf = service.get("kf_account") if isinstance(service, dict) else None
    user.note(world.now(), "received", "客服消息", **content, **({"kf_account": kf} if kf else {}))


def _template_values(data) -> dict:
    if not isinstance(data, dict):
        raise WeChatError(47001)
    values = {}
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value:
            raise WeChatError(47003, f"data.{key}.value is empty")
        values[key] = value
    return values


def _check_template_call(account: Account, body: dict) -> tuple[User, dict]:
    if account.kind != "service":
        raise WeChatError(48001)
    user = recipient(account, body.get("touser"))
    template_id = body.get("template_id")
    template = account.templates.get(template_id) if isinstance(template_id, str) else None
    if template is None:
        raise WeChatError(40037)
    if not user.subscribed:
        raise WeChatError(43004)
    if user.refuses_templates:
        raise WeChatError(43101)
    return user, template


def template_send(world: World, account: Account, body: dict) -> int:
    """``message/template/send``: one template message; a repeat client_msg_id is dropped."""
    user, template = _check_template_call(account, body)
    values = _template_values(body.get("data"))
    key = ("template", user.openid, body.get("client_msg_id"))
    earlier = account.client_msg_ids.get(key) if key[2] else None
    if earlier and world.now() - earlier[1] < DEDUPE_TEMPLATE:
        return earlier[0]
    msgid = world.next_id("template")
    account.client_msg_ids[key] = (msgid, world.now())
    account.template_sends[str(msgid)] = {"msgid": msgid, "touser": user.openid, **body}
    user.note(
        world.now(),
        "received",
        "模板消息",
        msgtype="template",
        title=template.get("title", ""),
        data=values,
        url=body.get("url", ""),
    )
    event = {
        "ToUserName": account.original_id,
        "FromUserName": user.openid,
        "CreateTime": int(world.now()),
        "MsgType": "event",
        "Event": "TEMPLATESENDJOBFINISH",
        "MsgID": msgid,
        "Status": "success",
    }
    world.scheduler.call_later(
        world.config.template_delay, lambda: callbacks.deliver_later(world, account, event)
    )
    return msgid
