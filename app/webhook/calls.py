"""One callback after verification: its kind, its de-duplication key, its chat message.

The de-duplication key follows WeChat's own advice: MsgId for messages, FromUserName +
CreateTime (+ Event) for events, and for PUBLISHJOBFINISH, whose FromUserName is always
the same helper account, the ``publish_id`` and its status (a later status of the same
job, such as 5 "deleted after success", is a new event).
"""

import hashlib
import json
import time
from dataclasses import dataclass

from app.channels import chat
from app.core import validate
from app.core.errors import CallbackRefused


def refused(message: str, code: str, status: int = 400, forged: bool = False):
    return CallbackRefused(message, code=code, status=status, forged=forged)


@dataclass(frozen=True)
class Call:
    """One verified, decrypted callback."""

    fields: dict
    encrypt: str | None  # the Encrypt text in compatible and safe mode
    kind: str  # "message", "publish" or "ack"
    dedup: str

    @property
    def openid(self) -> str:
        return self.fields["FromUserName"]


def classify(fields: dict, encrypt: str | None) -> Call:
    """Check the fields Qianfa relies on and name the callback's de-duplication key."""
    sender, msg_type = fields.get("FromUserName", ""), fields.get("MsgType", "").lower()
    if not msg_type or not fields.get("ToUserName"):
        raise refused("回调缺少 MsgType 或 ToUserName", "bad_xml")
    try:
        validate.openid(sender)
    except Exception:
        raise refused("回调的 FromUserName 格式不对", "bad_xml") from None
    event = fields.get("Event", "")
    kind = "message"
    if msg_type != "event":
        identity = f"msg:{fields.get('MsgId') or sender + ':' + fields.get('CreateTime', '')}"
    elif event.upper() == "PUBLISHJOBFINISH":
        info = fields.get("PublishEventInfo")
        if not isinstance(info, dict) or not info.get("publish_id"):
            raise refused("PUBLISHJOBFINISH 缺少 publish_id", "bad_xml")
        kind = "publish"
        identity = f"publish:{info['publish_id']}:{info.get('publish_status', '')}"
    else:
        kind = "ack" if event.upper().endswith("JOBFINISH") else "message"
        identity = f"event:{sender}:{fields.get('CreateTime', '')}:{event}"
    digest = hashlib.sha1(identity.encode()).hexdigest()
    return Call({**fields, "MsgType": msg_type}, encrypt, kind, digest)


def inbound(
    call: Call, person: str, grants: set[str] | None = None, session: str = ""
) -> chat.Inbound:
    """The chat's view of a message; voice carries WeChat's speech recognition as text.

    The body is authenticated exactly when it was decrypted: ``msg_signature`` covers the
    Encrypt text, while the plaintext ``signature`` covers no part of the body.
    """
    f = call.fields
    return chat.Inbound(
        openid=call.openid,
        authenticated=call.encrypt is not None,
        type=f["MsgType"],
        person=person,
        grants=frozenset(grants) if person and grants is not None else None,
        session=session,
        text=f.get("Content") or f.get("Recognition", ""),
        media_id=f.get("MediaId", ""),
        pic_url=f.get("PicUrl", ""),
        url=f.get("Url", ""),
        title=f.get("Title", ""),
        description=f.get("Description", ""),
        event=f.get("Event", "").lower(),
    )


def publish_record(pid: str, fields: dict) -> list[str]:
    """A PUBLISHJOBFINISH event as stream fields: what the publishing workers consume."""
    info = fields["PublishEventInfo"]
    items = info.get("article_detail") or []
    items = items if isinstance(items, list) else [items]
    fail = info.get("fail_idx") or []
    record = {
        "platform": pid,
        "publish_id": str(info.get("publish_id", "")),
        "publish_status": str(info.get("publish_status", "")),
        "article_id": str(info.get("article_id", "")),
        "article_urls": json.dumps(
            [item.get("article_url", "") for item in items if isinstance(item, dict)]
        ),
        "fail_idx": json.dumps(fail if isinstance(fail, list) else [fail]),
        "create_time": fields.get("CreateTime", ""),
        "received_at": str(int(time.time())),
    }
    return [part for pair in record.items() for part in pair]
