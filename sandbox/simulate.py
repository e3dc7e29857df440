"""Simulated users at work: what a follower or staff member sends, as WeChat delivers it.

A control-API request such as ``{"type": "text", "content": "D42 通过"}`` becomes the XML
WeChat would POST (ToUserName = the account's gh_ id, FromUserName = the user's OpenID,
a fresh MsgId), is noted in the user's chat, opens the customer-service window, and is
delivered to the account's server; the answer lands in the chat.
"""

from flask import has_request_context, request

from sandbox import callbacks, messaging
from sandbox.state import Account, StateError, User, World

EVENTS = ("subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "scancode_push", "LOCATION")


def _text(spec: dict, name: str, default: str = "") -> str:
    value = spec.get(name, default)
    if not isinstance(value, str | int | float):
        raise StateError(f"{name} 必须是字符串")
    return str(value)


def _message_fields(world: World, kind: str, spec: dict) -> dict:
    if kind == "text":
        content = _text(spec, "content")
        if not content:
            raise StateError("文本消息需要 content")
        return {"Content": content}
    if kind == "image":
        pic_url = _text(spec, "pic_url") or default_picture()
        return {"PicUrl": pic_url, "MediaId": _text(spec, "media_id") or world.random_text(64)}
    if kind == "link":
        return {
            "Title": _text(spec, "title"),
            "Description": _text(spec, "description"),
            "Url": _text(spec, "url"),
        }
    if kind == "location":
        return {
            "Location_X": float(_text(spec, "x", "23.134521")),
            "Location_Y": float(_text(spec, "y", "113.358803")),
            "Scale": int(_text(spec, "scale", "20")),
            "Label": _text(spec, "label"),
        }
    raise StateError(f"不支持的消息类型 {kind},可选 text、image、link、location、event")


def default_picture() -> str:
    """A sample the sandbox serves itself, so the picture can be fetched offline."""
    base = request.host_url if has_request_context() else "http://127.0.0.1:8100/"
    return f"{base}pictures/sample-1.png"


def _event_fields(spec: dict) -> dict:
    event = _text(spec, "event")
    if event not in EVENTS:
        raise StateError(f"不支持的事件 {event or '(空)'},可选:{', '.join(EVENTS)}")
    fields = {"Event": event}
    if spec.get("event_key") is not None or event in ("CLICK", "VIEW", "SCAN"):
        fields["EventKey"] = _text(spec, "event_key")
    return fields


def build(world: World, account: Account, user: User, spec: dict) -> dict:
    """The callback XML fields for what the user does, in WeChat's element order."""
    kind = spec.get("type", "text")
    fields = {
        "ToUserName": account.original_id,
        "FromUserName": user.openid,
        "CreateTime": int(world.now()),
        "MsgType": kind,
    }
    if kind == "event":
        return fields | _event_fields(spec)
    if not isinstance(kind, str):
        raise StateError("type 必须是字符串")
    return fields | _message_fields(world, kind, spec) | {"MsgId": world.next_id("msg")}


def _chat_line(fields: dict) -> dict:
    skip = ("ToUserName", "FromUserName", "CreateTime", "MsgId")
    return {key: value for key, value in fields.items() if key not in skip}


def _apply(world: World, user: User, fields: dict) -> None:
    """What the action changes on WeChat's side: subscription and the reply window."""
    event = fields.get("Event")
    if event == "unsubscribe":
        user.subscribed = False
    elif event == "subscribe":
        user.subscribed = True
    if fields["MsgType"] != "event":
        messaging.open_window(world, user, "message")
    elif event in messaging.WINDOW_EVENTS:
        messaging.open_window(world, user, "event")


def act(world: World, account: Account, user: User, spec: dict) -> dict:
    """Let ``user`` send a message or trigger an event; return the delivery record."""
    with world.lock:
        fields = build(world, account, user, spec)
        _apply(world, user, fields)
        user.note(world.now(), "sent", "用户", **_chat_line(fields))
    return callbacks.deliver(world, account, fields)
