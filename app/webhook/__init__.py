"""The WeChat callback endpoint's protocol: verify, decrypt, de-duplicate, answer.

A message's path and its Redis round trips:

1. Signature (constant time), timestamp window, the mode the callback arrived in
   (``modes.detect``), ``msg_signature``, AES and AppID, all in memory: each platform's
   Token, EncodingAESKey and downstream token are revealed once per process (each reveal
   is audited) and cached until their sealed text changes.
2. ONE Lua script (``scripts.CLAIM``): the platform is still active and what is cached
   about it unchanged, the callback came in the platform's configured mode, the
   (timestamp, nonce) pair is new, the dedup claim (or the earlier attempt's cached
   reply), the sender's binding and the platform's webhook settings; a PUBLISHJOBFINISH
   event is recorded in the same script.
3. ``chat.respond(r, keyring, platform, Inbound(...))``, told whether the body was
   authenticated (only then may a command change anything), or for a follower the
   default reply or the downstream's, signed with the downstream's own token; then ONE
   ``SET`` stores the reply under the dedup key, sent without waiting for Redis's answer
   (``CLIENT REPLY SKIP``).

WeChat sends a callback again when it had no answer within 5 s; the retry carries the
same MsgId (FromUserName + CreateTime for events, ``publish_id`` for PUBLISHJOBFINISH),
so it gets the first attempt's reply and changes nothing. A retry that arrives while the
first attempt is still being answered waits up to ``QIANFA_WEBHOOK_RETRY_WAIT`` seconds
for that reply, then acknowledges with "success". Every refusal is a 4xx, counted and
audited (``refusals``); nothing else is written for it.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app.channels import chat
from app.core import egress, keys
from app.core.audit import Actor
from app.core.errors import CallbackRefused, NotFound
from app.core.masterkey import Keyring
from app.core.settings import Settings
from app.monitoring import replies
from app.notify import window
from app.registry import credentials, platforms
from app.registry.credentials import Sealed
from app.webhook import crypto, modes, refusals, scripts, wirexml
from app.webhook.calls import Call, classify, inbound, publish_record, refused
from app.webhook.forward import SUCCESS, Forwarder

log = logging.getLogger(__name__)
ACTOR = Actor.system("webhook")
PENDING = "pending"
PUBLISH_DEDUP_TTL = 30 * 86400
POLL = 0.05
SKIP_REPLY = ("CLIENT", "REPLY", "SKIP")
# What the client retries (``app.core.redis.retry_policy``): on these a raw send falls back to it.
RETRIED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
QUERY_MAX = 1024  # WeChat's query (signature, timestamp, nonce, openid, msg_signature) is ~200
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Limits:
    """The endpoint's settings, from ``QIANFA_WEBHOOK_*``."""

    timestamp_window: int
    max_body: int
    dedup_ttl: int
    retry_wait: float
    forward_timeout: float
    refusals: refusals.Policy
    fetch_allow: egress.Allow

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            settings.webhook_timestamp_window,
            settings.webhook_max_body,
            settings.webhook_dedup_ttl,
            settings.webhook_retry_wait,
            settings.webhook_forward_timeout,
            refusals.Policy(
                settings.webhook_refusal_window,
                settings.webhook_audit_refusals,
                settings.webhook_forged_alert,
            ),
            settings.fetch_allow,
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = TEXT


@dataclass(frozen=True)
class Account:
    """What a process keeps about one platform between callbacks."""

    platform: platforms.Platform
    fingerprint: str
    token: Sealed
    aes_key: bytes | None
    forward_token: Sealed | None


class _Stale(Exception):
    """What this process cached about the platform changed between check and claim."""


class Gateway:
    """The callback endpoint of one process: its cache of platforms and its scripts."""

    def __init__(
        self,
        r: redis.Redis,
        keyring: Keyring,
        limits: Limits,
        respond: Callable | None = None,
    ):
        self.r, self.keyring, self.limits = r, keyring, limits
        self.respond = respond or (lambda *args: chat.respond(*args))
        self.forwarder = Forwarder(limits.forward_timeout, limits.max_body, limits.fetch_allow)
        self._state = scripts.Script(r, scripts.STATE)
        self._claim = scripts.Script(r, scripts.CLAIM)
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    # --- entry points -------------------------------------------------------------

    def verify_url(self, raw_id: str, args: dict, remote: str = "") -> Answer:
        """GET: WeChat's server check; answer ``echostr`` verbatim when the signature holds."""
        pid = None
        try:
            pid = self._platform_id(raw_id)
            self._check_query(args)
            self._signed_account(pid, args)
            self._check_time(args)
            status = self._fingerprint(pid)[0]
            if status != platforms.ACTIVE:
                raise self._inactive(pid, status)
            return Answer(200, args.get("echostr", ""))
        except CallbackRefused as exc:
            return self._refuse(pid, exc, {"method": "GET", "from": remote})

    def callback(self, raw_id: str, args: dict, body: bytes | None, remote: str = "") -> Answer:
        """POST: a message or event; ``body`` None means it was over the size limit."""
        pid = None
        try:
            pid = self._platform_id(raw_id)
            self._check_query(args)
            if body is None or len(body) > self.limits.max_body:
                raise refused(f"回调内容超过 {self.limits.max_body} 字节", "too_large", 413)
            try:
                return self._handle(pid, args, body)
            except _Stale:
                return self._handle(pid, args, body)  # reloaded: once more, then refuse
        except _Stale:
            return self._refuse(pid, refused("平台设置正在变更", "busy", 409), {"from": remote})
        except CallbackRefused as exc:
            return self._refuse(pid, exc, {"method": "POST", "from": remote})

    # --- verification -------------------------------------------------------------

    def _platform_id(self, raw_id: str) -> str:
        try:
            return platforms.platform_id(raw_id)
        except Exception:
            raise refused("没有这个平台", "unknown_platform", 404) from None

    @staticmethod
    def _check_query(args: dict) -> None:
        """Refuse a query far longer than WeChat's before any work: its values become keys."""
        if sum(len(name) + len(value) for name, value in args.items()) > QUERY_MAX:
            raise refused(f"回调的查询参数超过 {QUERY_MAX} 字符", "query_too_large", 414)

    def _signed_account(self, pid: str, args: dict) -> Account:
        """The platform's account if the signature holds, reloading once if it changed."""
        account = self._accounts.get(pid) or self._load(pid)
        if self._signed(account, args):
            return account
        if self._fingerprint(pid)[1] != account.fingerprint:
            account = self._load(pid)
            if self._signed(account, args):
                return account
        raise refused("签名无效", "bad_signature", 403, forged=True)

    @staticmethod
    def _signed(account: Account, args: dict) -> bool:
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        expected = crypto.sign(account.token.reveal(), timestamp, nonce)
        return crypto.same(expected, args.get("signature"))

    def _check_time(self, args: dict) -> None:
        try:
            skew = abs(time.time() - int(args.get("timestamp", "")))
        except ValueError:
            raise refused("时间戳无效", "bad_timestamp") from None
        if skew > self.limits.timestamp_window:
            raise refused("时间戳超出允许范围(可能是重放)", "stale_timestamp", 403)

    def _open(self, account: Account, args: dict, body: bytes) -> tuple[dict, str | None, str]:
        """The callback's fields (decrypted in compatible and safe mode), Encrypt and mode.

        In compatible mode the plain copy beside ``<Encrypt>`` is never read: only the
        encrypted part is covered by ``msg_signature``.
        """
        outer = self._parse(body)
        mode = modes.detect(args, outer)
        if mode == modes.PLAINTEXT:
            return outer, None, mode
        if account.aes_key is None:
            raise refused("平台未设置 EncodingAESKey", "not_configured", 403)
        encrypt = outer.get("Encrypt", "")
        token, timestamp, nonce = account.token.reveal(), args["timestamp"], args.get("nonce", "")
        expected = crypto.sign(token, timestamp, nonce, encrypt)
        if not crypto.same(expected, args.get("msg_signature")):
            raise refused("消息签名(msg_signature)无效", "bad_msg_signature", 403, forged=True)
        try:
            inner = crypto.decrypt(account.aes_key, encrypt, account.platform.appid)
        except crypto.AppIdMismatch as exc:
            raise refused(str(exc), "wrong_appid", 403, forged=True) from None
        except crypto.CryptoError as exc:
            raise refused(f"无法解密:{exc}", "undecryptable") from None
        return self._parse(inner), encrypt, mode

    @staticmethod
    def _parse(body: bytes) -> dict:
        try:
            return wirexml.parse(body)
        except wirexml.XmlRefused as exc:
            raise refused(str(exc), "bad_xml") from None

    # --- the platform cache -------------------------------------------------------

    def _fingerprint(self, pid: str) -> tuple[str, str]:
        keys_ = [keys.platform(pid), keys.platform_admins(pid), keys.platform_secrets(pid)]
        found = self._state(keys_, [])
        if not found:
            self._accounts.pop(pid, None)
            raise refused("没有这个平台", "unknown_platform", 404)
        return found[0].decode(), found[1].decode()

    def _inactive(self, pid: str, status: str) -> CallbackRefused:
        self._accounts.pop(pid, None)
        label = platforms.STATUSES.get(status, status)
        return refused(f"平台当前为「{label}」,不提供服务(第四、七条)", "inactive", 403)

    def _load(self, pid: str) -> Account:
        """Read the platform and reveal its secrets: once per process and change."""
        with self._lock:
            status, fingerprint = self._fingerprint(pid)
            cached = self._accounts.get(pid)
            if cached is not None and cached.fingerprint == fingerprint:
                return cached  # another thread loaded it meanwhile
            if status != platforms.ACTIVE:
                raise self._inactive(pid, status)
            token = self._reveal(pid, "token")
            if token is None:
                raise refused("平台未设置 Token", "not_configured", 403)
            aes = self._reveal(pid, "encoding_aes_key")
            account = Account(
                platform=platforms.get(self.r, pid),
                fingerprint=fingerprint,
                token=token,
                aes_key=crypto.aes_key(aes.reveal()) if aes else None,
                forward_token=self._reveal(pid, "forward_token"),
            )
            self._accounts[pid] = account
            return account

    def _reveal(self, pid: str, name: str) -> Sealed | None:
        purpose = "校验并解密微信回调、转发给原服务器(每个进程读取一次)"
        try:
            return credentials.reveal(self.r, self.keyring, ACTOR, pid, name, purpose=purpose)
        except NotFound:
            return None

    # --- one callback -------------------------------------------------------------

    def _handle(self, pid: str, args: dict, body: bytes) -> Answer:
        account = self._signed_account(pid, args)
        self._check_time(args)
        fields, encrypt, mode = self._open(account, args, body)
        call = classify(fields, encrypt)
        pool = self.r.connection_pool
        conn = pool.get_connection()  # one checkout for the claim and the reply's SET
        try:
            return self._answer(conn, pid, account, args, body, call, mode)
        finally:
            pool.release(conn)

    def _answer(self, conn, pid, account: Account, args, body, call: Call, mode: str) -> Answer:
        outcome = self._claim_call(conn, pid, account, args, call, mode)
        kind = outcome[0].decode()
        if kind == "recorded":
            return Answer(200, SUCCESS)
        person, default_reply, forward_url = (item.decode() for item in outcome[2:5])
        if kind == "dup":
            cached = outcome[1].decode()
            if cached == PENDING:
                cached = self._wait_for_reply(pid, call)
            return self._render(account, args, call, cached)
        grants, session = outcome[5], outcome[6]
        message = inbound(call, person, {g.decode() for g in grants}, session.decode())
        try:
            reply = self._reply(account, args, body, call, message, default_reply, forward_url)
        except BaseException:
            self.r.delete(keys.webhook_dedup(pid, call.dedup))  # let WeChat's retry redo it
            raise
        self._store_reply(conn, keys.webhook_dedup(pid, call.dedup), reply)
        return self._render(account, args, call, reply)

    def _claim_call(self, conn, pid: str, account: Account, args: dict, call: Call, mode: str):
        ttl = PUBLISH_DEDUP_TTL if call.kind == "publish" else self.limits.dedup_ttl
        argv = [
            pid,
            args["timestamp"],
            args.get("nonce", ""),
            call.dedup,
            call.openid,
            account.fingerprint,
            2 * self.limits.timestamp_window,
            ttl,
            call.kind,
            mode,
        ]
        if call.kind == "publish":
            argv += publish_record(pid, call.fields)
        else:
            wrote = "0" if call.fields.get("MsgType") == "event" else "1"
            argv += [time.time(), wrote, window.WINDOW]
        outcome = self._run_claim(conn, argv)
        kind = outcome[0].decode()
        if kind == "gone":
            self._accounts.pop(pid, None)
            raise refused("没有这个平台", "unknown_platform", 404)
        if kind == "inactive":
            raise self._inactive(pid, outcome[1].decode())
        if kind == "stale":
            self._accounts.pop(pid, None)
            raise _Stale()
        if kind == "mismatch":
            raise modes.mismatch_between(mode, outcome[1].decode())
        if kind == "replay":
            raise refused("重复的 timestamp 与 nonce:重放的回调", "replayed_nonce", 409)
        return outcome

    def _run_claim(self, conn, argv: list) -> list:
        """The claim script on this callback's connection, without the client's per-command
        checkout and wrappers (~50 µs); a lost connection, a timeout or a Redis that lost
        the script goes the client's ordinary way, with its retries and ``SCRIPT LOAD``
        (which, like redis-py's own retry, runs the script again if Redis ran it already).
        """
        try:
            conn.send_packed_command(conn.pack_command("EVALSHA", self._claim.sha, 0, *argv))
            return conn.read_response()  # a connection error disconnects it first
        except (*RETRIED, redis.exceptions.NoScriptError):
            return self._claim([], argv)

    def _store_reply(self, conn, key: str, reply: str) -> None:
        """``SET key reply XX KEEPTTL`` without waiting for Redis's "OK" (``CLIENT REPLY SKIP``).

        Redis runs a connection's commands in order, so the reply is stored before anything
        this connection sends next; a retry that reads the key a moment earlier finds it
        pending and waits for it, as for any retry during the first attempt. A connection
        error falls back to the ordinary SET with its retries; an error Redis would have
        answered (none is expected for ``SET XX KEEPTTL``) goes unseen, and the key stays
        pending until its TTL, so a retry would wait and then acknowledge with "success".
        """
        try:
            conn.send_packed_command(
                conn.pack_commands([SKIP_REPLY, ("SET", key, reply, "XX", "KEEPTTL")])
            )
        except RETRIED:  # dropped by redis-py
            self.r.execute_command("SET", key, reply, "XX", "KEEPTTL")  # with its retries

    def _wait_for_reply(self, pid: str, call: Call) -> str:
        """The first attempt is still being answered: wait a little for its reply."""
        deadline = time.monotonic() + self.limits.retry_wait
        key = keys.webhook_dedup(pid, call.dedup)
        while time.monotonic() < deadline:
            time.sleep(POLL)
            cached = self.r.get(key)
            if cached is not None and cached != PENDING.encode():
                return cached.decode()
        return SUCCESS

    def _reply(
        self,
        account: Account,
        args: dict,
        body: bytes,
        call: Call,
        message: chat.Inbound,
        default_reply: str,
        forward_url: str,
    ) -> str:
        """What to cache and answer: the chat's reply, else the follower's."""
        text = self.respond(self.r, self.keyring, account.platform, message)
        fields = call.fields
        if text:
            return "xml:" + wirexml.text_reply(call.openid, fields.get("ToUserName", ""), text)
        token = self._downstream_token(account) if forward_url else None
        if token is not None:
            passed = self.forwarder.forward(forward_url, token, args, body, call.encrypt)
            return self._screened(account, passed)
        if default_reply and fields.get("MsgType") != "event":
            return "xml:" + wirexml.text_reply(
                call.openid, fields.get("ToUserName", ""), default_reply
            )
        return SUCCESS

    def _screened(self, account: Account, passed: str) -> str:
        """The forward server's reply if its text passes screening, else "success"."""
        kind, _, payload = passed.partition(":")
        if kind == "enc":
            try:
                plain = crypto.decrypt(account.aes_key, payload, account.platform.appid)
            except crypto.CryptoError:
                return SUCCESS
            payload = plain.decode("utf-8", "replace")
        elif kind != "xml":
            return passed
        return passed if replies.screen_forwarded(self.r, account.platform.id, payload) else SUCCESS

    @staticmethod
    def _downstream_token(account: Account) -> str | None:
        """The downstream's own token; never the platform's, so without one nothing is forwarded.

        ``config.configure`` requires one with a forward URL; a URL stored before that rule,
        or a token set equal to the platform's with ``qianfa credentials set``, is caught here.
        """
        if account.forward_token is None:
            return None
        token = account.forward_token.reveal()
        return None if crypto.same(token, account.token.reveal()) else token

    def _render(self, account: Account, args: dict, call: Call, cached: str) -> Answer:
        """The HTTP answer for a cached reply, encrypted afresh in compatible and safe mode."""
        kind, _, payload = cached.partition(":")
        if kind not in ("xml", "enc"):
            return Answer(200, SUCCESS)
        if call.encrypt is None:
            return Answer(200, payload, XML) if kind == "xml" else Answer(200, SUCCESS)
        if kind == "xml":
            payload = crypto.encrypt(account.aes_key, payload.encode(), account.platform.appid)
        timestamp, nonce = str(int(time.time())), args.get("nonce", "")
        signature = crypto.sign(account.token.reveal(), timestamp, nonce, payload)
        return Answer(200, wirexml.envelope(payload, signature, timestamp, nonce), XML)

    def _refuse(self, pid: str | None, error: CallbackRefused, detail: dict) -> Answer:
        known = pid if pid and error.code != "unknown_platform" else None
        if known is None and pid:
            detail = {**detail, "platform_id": pid}
        refusals.record(self.r, self.limits.refusals, known, error, detail)
        return Answer(error.status, error.code)
