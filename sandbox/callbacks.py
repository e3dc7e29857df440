"""Callbacks: what WeChat POSTs to an account's server URL, and what it makes of the answer.

Each delivery is signed with the account's token and sent in its mode (plaintext,
compatible or safe). WeChat waits 5 seconds; with no valid answer it sends the same XML
again (same MsgId and CreateTime, fresh timestamp and nonce), three attempts in all
(WeChat's "总共重试三次"), and then shows the user "该公众号暂时无法提供服务,请稍后再试".
An empty body or ``success`` is an acknowledgement; anything else must be a reply the
user can see, encrypted in safe mode.
"""

import logging
import secrets
import time
from dataclasses import dataclass

import requests

from sandbox import wirexml
from sandbox.crypto import CryptoError, MessageCrypto, sign
from sandbox.state import Account, World

log = logging.getLogger(__name__)

USER_AGENT = "Mozilla/4.0"
UNAVAILABLE = "该公众号暂时无法提供服务,请稍后再试"
REPLY_TYPES = ("text", "image", "voice", "video", "music", "news", "transfer_customer_service")
# A reply to one of these may carry one article; WeChat drops the rest.
ONE_ARTICLE_FOR = ("text", "image", "voice", "video", "shortvideo", "location", "news")
MAX_ARTICLES = 8


@dataclass(frozen=True)
class Target:
    """An account's callback settings, copied so the POST runs without the world lock."""

    appid: str
    original_id: str
    token: str
    encoding_aes_key: str
    server_url: str
    encrypt_mode: str

    @classmethod
    def of(cls, account: Account) -> "Target":
        return cls(
            account.appid,
            account.original_id,
            account.token,
            account.encoding_aes_key,
            account.server_url,
            account.encrypt_mode,
        )

    def crypto(self) -> MessageCrypto:
        return MessageCrypto.for_account(self.token, self.encoding_aes_key, self.appid)


def build_request(target: Target, fields: dict, timestamp: str, nonce: str) -> tuple[dict, str]:
    """Query parameters and body of one POST, in the account's encryption mode."""
    xml = wirexml.render(fields)
    params = {"signature": sign(target.token, timestamp, nonce), "timestamp": timestamp}
    params["nonce"] = nonce
    params["openid"] = fields.get("FromUserName", "")
    if target.encrypt_mode == "plaintext":
        return params, xml
    encrypted, msg_signature = target.crypto().seal(xml, timestamp, nonce)
    params.update(encrypt_type="aes", msg_signature=msg_signature)
    if target.encrypt_mode == "safe":
        body = {"ToUserName": fields["ToUserName"], "Encrypt": encrypted}
    else:
        body = {**fields, "Encrypt": encrypted}
    return params, wirexml.render(body)


class InvalidReply(ValueError):
    """An answer WeChat would not accept; the message says why, in Chinese."""


def _open_envelope(target: Target, doc: dict) -> dict:
    if target.encrypt_mode == "plaintext":
        raise InvalidReply("明文模式下回复了密文")
    try:
        inner = target.crypto().open(
            doc["Encrypt"], doc.get("MsgSignature"), doc.get("TimeStamp"), doc.get("Nonce")
        )
        return wirexml.parse(inner)
    except (CryptoError, wirexml.XmlError, TypeError) as exc:
        raise InvalidReply(f"密文回复无法验证或解密:{exc}") from exc


def read_reply(target: Target, openid: str, body: bytes) -> dict | None:
    """The reply a user would see, None for an acknowledgement; InvalidReply otherwise."""
    text = body.decode("utf-8", "replace").strip()
    if text in ("", "success"):
        return None
    try:
        doc = wirexml.parse(text)
    except wirexml.XmlError as exc:
        raise InvalidReply("回复既不是 success 也不是 XML") from exc
    if "Encrypt" in doc:
        doc = _open_envelope(target, doc)
    elif target.encrypt_mode == "safe":
        raise InvalidReply("安全模式下回复必须加密")
    if doc.get("MsgType") not in REPLY_TYPES:
        raise InvalidReply(f"不支持的回复类型 {doc.get('MsgType')!r}")
    if doc.get("ToUserName") != openid or doc.get("FromUserName") != target.original_id:
        raise InvalidReply("回复的 ToUserName/FromUserName 与收到的消息不对应")
    return doc


def _attempt(session, target: Target, fields: dict, timeout: float) -> tuple[dict, bytes | None]:
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(9 * 10**9) + 10**9)
    params, body = build_request(target, fields, timestamp, nonce)
    record = {"at": int(time.time()), "status": None, "error": ""}
    try:
        response = session.post(
            target.server_url,
            params=params,
            data=body.encode("utf-8"),
            headers={"Content-Type": "text/xml", "User-Agent": USER_AGENT},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        record["error"] = f"{timeout:g} 秒内无响应"
        return record, None
    except requests.RequestException as exc:
        record["error"] = f"连接失败:{type(exc).__name__}"
        return record, None
    record["status"] = response.status_code
    if response.status_code != 200:
        record["error"] = f"HTTP {response.status_code}"
        return record, None
    return record, response.content


def post(target: Target, fields: dict, timeout: float, attempts: int) -> dict:
    """POST one callback with WeChat's retries; return what happened, for the record."""
    openid = fields["FromUserName"] if expects_reply(fields) else None
    result = {"outcome": "failed", "attempts": [], "reply": None, "problem": ""}
    with requests.Session() as session:
        session.trust_env = False  # never route loopback callbacks through a proxy
        for _ in range(max(1, attempts)):
            record, body = _attempt(session, target, fields, timeout)
            result["attempts"].append(record)
            if body is None:
                result["problem"] = record["error"]
                continue
            if openid is None:
                result["outcome"] = "acked"  # system events: WeChat ignores the answer
                return result
            try:
                reply = read_reply(target, openid, body)
            except InvalidReply as exc:
                record["error"] = result["problem"] = str(exc)
                continue
            result.update(outcome="replied" if reply else "acked", reply=reply, problem="")
            return result
    return result


def expects_reply(fields: dict) -> bool:
    """Messages and a user's own events get replies; job-finished events only an ack."""
    return fields.get("MsgType") != "event" or not fields.get("Event", "").endswith("JOBFINISH")


def _chat_content(reply: dict, incoming: str) -> dict:
    msgtype = reply["MsgType"]
    if msgtype == "text":
        return {"msgtype": "text", "content": reply.get("Content", "")}
    if msgtype == "news":
        items = (reply.get("Articles") or {}).get("item") or []
        items = items if isinstance(items, list) else [items]
        keep = 1 if incoming in ONE_ARTICLE_FOR else MAX_ARTICLES
        articles = [
            {key.lower(): item.get(key, "") for key in ("Title", "Description", "Url", "PicUrl")}
            for item in items[:keep]
            if isinstance(item, dict)
        ]
        return {"msgtype": "news", "articles": articles}
    if msgtype == "transfer_customer_service":
        return {"msgtype": "text", "content": "(已转接人工客服)"}
    detail = reply.get(msgtype.capitalize())
    return {"msgtype": msgtype, "detail": detail if isinstance(detail, dict) else {}}


def _record(world: World, account: Account, fields: dict) -> dict:
    record = {
        "id": world.next_id("delivery"),
        "at": int(world.now()),
        "openid": fields.get("FromUserName", ""),
        "type": fields.get("Event") or fields.get("MsgType"),
        "xml": wirexml.render(fields),
        "outcome": "pending",
        "attempts": [],
        "reply": None,
        "problem": "",
    }
    account.deliveries.append(record)
    return record


def _note_outcome(world: World, account: Account, fields: dict, result: dict) -> None:
    user = account.user(fields.get("FromUserName", ""))
    if user is None or not expects_reply(fields):
        return
    if result["outcome"] == "replied":
        incoming = fields.get("MsgType", "")
        user.note(world.now(), "received", "被动回复", **_chat_content(result["reply"], incoming))
    elif result["outcome"] == "failed":
        user.note(world.now(), "received", "系统提示", msgtype="text", content=UNAVAILABLE)


def deliver(world: World, account: Account, fields: dict) -> dict:
    """Deliver a callback now (blocking), then record it with the account and in the chat."""
    with world.lock:
        if not world.holds(account):
            return {"outcome": "dropped", "problem": "沙箱已重置"}
        target, record = Target.of(account), _record(world, account, fields)
        timeout, attempts = world.config.callback_timeout, world.config.callback_attempts
    if target.server_url:
        result = post(target, fields, timeout, attempts)
    else:
        result = {"outcome": "no_server", "problem": "账号未配置服务器地址(server_url)"}
    with world.lock:
        record.update(result)
        _note_outcome(world, account, fields, result)
    return record


def deliver_later(world: World, account: Account, fields: dict) -> None:
    """Deliver from a worker thread, as WeChat pushes events while the API caller moves on."""

    def run() -> None:
        try:
            deliver(world, account, fields)
        except Exception:
            log.exception("sandbox callback failed")
        finally:
            with world.lock:
                world.in_flight -= 1

    with world.lock:
        world.in_flight += 1
    world.executor.submit(run)
