"""One callback after verification: its kind, its de-duplication key, its chat message.

The de-duplication key follows WeChat's own advice: MsgId for messages, FromUserName +
CreateTime (+ Event) for events, and for PUBLISHJOBFINISH, whose FromUserName is always
the same helper account, the ``publish_id`` and its status (a later status of the same
job, such as 5 "deleted after success", is a new event). MASSSENDJOBFINISH is keyed on
its MsgID and status and recorded like PUBLISHJOBFINISH: one Qianfa did not ask for is a
mass send made in the back office (``app.monitoring.reconcile.mass_sent``).
"""

import hashlib
import json
import time
from dataclasses import dataclass

from app.channels import chat
from app.core import validate
from app.core.errors import CallbackRefused

MSG_ID_MAX = 32


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
    elif event.upper() == "MASSSENDJOBFINISH":
        msg_id = str(fields.get("MsgID") or fields.get("MsgId") or "")
        if not msg_id.isdigit() or len(msg_id) > MSG_ID_MAX:
            raise refused("MASSSENDJOBFINISH 缺少 MsgID", "bad_xml")
        kind = "publish"
        identity = f"mass:{msg_id}:{fields.get('Status', '')}"
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
    """A PUBLISHJOBFINISH (or MASSSENDJOBFINISH) event as stream fields: what the
    publishing workers consume."""
    if str(fields.get("Event", "")).upper() == "MASSSENDJOBFINISH":
        return _mass_record(pid, fields)
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


def _mass_record(pid: str, fields: dict) -> list[str]:
    """MASSSENDJOBFINISH: the msg_id, status and the article URLs of an mpnews send."""
    result = fields.get("ArticleUrlResult")
    items = result.get("ResultList") if isinstance(result, dict) else None
    items = items if isinstance(items, list) else []
    record = {
        "event": "mass",
        "platform": pid,
        "msg_id": str(fields.get("MsgID") or fields.get("MsgId") or ""),
        "status": str(fields.get("Status", ""))[:64],
        "sent": str(fields.get("SentCount", ""))[:16],
        "article_urls": json.dumps(
            [str(item.get("ArticleUrl", ""))[:500] for item in items[:8] if isinstance(item, dict)]
        ),
        "create_time": str(fields.get("CreateTime", ""))[:16],
        "received_at": str(int(time.time())),
    }
    return [part for pair in record.items() for part in pair]
