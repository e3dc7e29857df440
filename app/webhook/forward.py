"""Forwarding a follower's callback to the account's earlier server, and its reply back.

The body goes unchanged; the query is re-signed with the downstream's token (same
timestamp and nonce, ``msg_signature`` too in compatible and safe mode). The downstream
shares the account's EncodingAESKey, as it did before Qianfa, so an encrypted reply is
passed back in its envelope re-signed with the platform's Token. Anything else (no
answer within the timeout, an error status, an oversized or unreadable reply, a reply
encrypted in plaintext mode or with a bad signature) becomes "success": the follower
then sees nothing, which is what WeChat does with an empty answer.
"""

import logging
import time
from urllib.parse import urlparse

import requests

from app.core import egress
from app.webhook import wirexml
from app.webhook.crypto import same, sign

log = logging.getLogger(__name__)
SUCCESS = "success"


class Forwarder:
    """One keep-alive HTTP session per process; ``timeout`` stays well inside WeChat's 5 s.

    The downstream's address is checked by the egress guard at each callback, and the
    connection goes to the address checked.
    """

    def __init__(self, timeout: float, max_body: int, allow: egress.Allow):
        self.timeout, self.max_body = timeout, max_body
        self.client = egress.Client(allow)

    def forward(self, url: str, token: str, args: dict, body: bytes, encrypt: str | None) -> str:
        """POST the callback downstream; return the reply to cache ("xml:", "enc:" or "success")."""
        if urlparse(url).scheme not in ("http", "https"):
            return SUCCESS
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp}
        params.update(nonce=nonce, openid=args.get("openid", ""))
        if encrypt is not None:
            params.update(encrypt_type="aes", msg_signature=sign(token, timestamp, nonce, encrypt))
        content = self._post(url, params, body)
        if content is None:
            return SUCCESS
        return self.reply(token, content, encrypted=encrypt is not None)

    def _post(self, url: str, params: dict, body: bytes) -> bytes | None:
        """The downstream's 200 answer, or None; the whole exchange stays within the timeout.

        requests' timeouts bound the connect and each read, not the total, so the connect
        gets a third, the wait for the answer the rest, and the body is read against a
        deadline (a server dripping bytes does not hold the reply past it).
        """
        deadline = time.monotonic() + self.timeout
        split = (self.timeout / 3, self.timeout * 2 / 3)
        try:
            with self.client.send(
                "POST",
                url,
                params=params,
                data=body,
                headers={"Content-Type": "text/xml"},
                timeout=split,
            ) as response:
                if response.status_code != 200:
                    return None
                content = b""
                for chunk in response.iter_content(4096):
                    content += chunk
                    if len(content) > self.max_body or time.monotonic() > deadline:
                        return None
                return content
        except (requests.RequestException, egress.Refused, egress.Unresolved) as exc:
            log.warning("forward to %s failed: %s", urlparse(url).netloc, type(exc).__name__)
            return None

    @staticmethod
    def reply(token: str, content: bytes, *, encrypted: bool) -> str:
        text = content.decode("utf-8", "replace").strip()
        if text in ("", SUCCESS):
            return SUCCESS
        try:
            doc = wirexml.parse(content)
        except wirexml.XmlRefused:
            return SUCCESS
        if "Encrypt" not in doc:
            return "xml:" + text
        expected = sign(token, doc.get("TimeStamp", ""), doc.get("Nonce", ""), doc["Encrypt"])
        if not encrypted or not same(expected, doc.get("MsgSignature")):
            return SUCCESS
        return "enc:" + doc["Encrypt"]
