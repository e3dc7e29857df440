"""Helpers for the webhook tests: an active platform with sealed credentials, callbacks
signed and encrypted as WeChat (the sandbox's own code) makes them, Qianfa in a thread."""

import os
import secrets
import threading
import time
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from app.core import audit
from app.core.masterkey import load_keyring
from app.core.redis import get_redis
from app.core.settings import load_settings
from app.registry import credentials
from app.web import create_app
from app.webhook import Gateway, Limits
from sandbox import wirexml
from sandbox.callbacks import Target, build_request, read_reply
from tests.factories import snapshot, world
from tests.sandbox_helpers import SAMPLE_AES_KEY, SAMPLE_APPID, SAMPLE_TOKEN

OPERATOR = audit.Actor.cli("tester")
PLATFORM = "jsj-wx"
ORIGINAL_ID = "gh_0123456789ab"
STAFF = "oStaff000000000000000000001"
FOLLOWER = "oFollower0000000000000000001"
SECURITY = (":refusals", ":refused:", ":forged:")


def active_platform(r, settings, *, pid=PLATFORM, status="active", appid=SAMPLE_APPID):
    """A wechat platform with its Token and EncodingAESKey sealed; returns its people."""
    w = world(r, platform_id=pid, status=status, appid=appid)
    keyring = load_keyring(settings)
    credentials.set_secret(r, keyring, OPERATOR, pid, "token", SAMPLE_TOKEN)
    credentials.set_secret(r, keyring, OPERATOR, pid, "encoding_aes_key", SAMPLE_AES_KEY)
    return {"responsible": w.responsible, "admin": w.admin}


def set_mode(r, mode, pid=PLATFORM):
    """Record the message mode the platform is set to in WeChat's console (default safe)."""
    from app.webhook import config

    config.configure(r, load_keyring(load_settings()), OPERATOR, pid, mode=mode)


def bind(r, pid, openid, person):
    """Bind ``openid`` directly, as a redeemed bind code would."""
    from app.core import keys

    r.set(keys.binding(pid, openid), person)


def target(mode="safe", token=SAMPLE_TOKEN, appid=SAMPLE_APPID, url=""):
    return Target(appid, ORIGINAL_ID, token, SAMPLE_AES_KEY, url, mode)


def text(content="你好", sender=FOLLOWER, msg_id=None, **extra) -> dict:
    return {
        "ToUserName": ORIGINAL_ID,
        "FromUserName": sender,
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": content,
        "MsgId": msg_id or secrets.randbelow(10**17) + 10**17,
        **extra,
    }


def fresh() -> tuple[str, str]:
    return str(int(time.time())), str(secrets.randbelow(9 * 10**9) + 10**9)


def signed(fields: dict, mode="safe", timestamp=None, nonce=None, **target_kw):
    """Query parameters and body of a callback, exactly as the sandbox sends it."""
    ts, nc = fresh()
    return build_request(target(mode, **target_kw), fields, timestamp or ts, nonce or nc)


def post(client, fields, mode="safe", pid=PLATFORM, **kw):
    params, body = signed(fields, mode, **kw)
    return client.post(f"/wechat/{pid}", query_string=params, data=body.encode())


def post_raw(client, params: dict, body: bytes, pid=PLATFORM):
    return client.post(f"/wechat/{pid}", query_string=params, data=body)


def reply_of(response, mode="safe", openid=FOLLOWER):
    """What the user sees: None for "success", else the reply's fields (checked as WeChat does)."""
    return read_reply(target(mode), openid, response.data)


def without_security(r) -> dict:
    """A snapshot without the audit trail and the refusal counters that a refusal adds."""
    return {
        key: value
        for key, value in snapshot(r).items()
        if not key.startswith(b"qianfa:audit") and not any(s.encode() in key for s in SECURITY)
    }


def render(fields: dict) -> str:
    return wirexml.render(fields)


def closed_before_sending(app):
    """The app with each response body read whole and closed before a byte is sent.

    Werkzeug's dev server closes a body only after draining the socket, and that drain raises
    when the client has hung up (Chromium does, mid-stylesheet), so the static file stayed open
    for the garbage collector to warn about in some later test. Production serves through
    waitress, which closes it; no response here streams.
    """

    def wrapped(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wrapped


@contextmanager
def serve(app):
    """Serve a Flask app on a free port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, closed_before_sending(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def staff(r, settings):
    """The active platform with its administrator bound as ``STAFF``; returns its people."""
    found = active_platform(r, settings)
    bind(r, PLATFORM, STAFF, found["admin"])
    return found


@pytest.fixture
def chat():
    return Chat()


class Chat:
    """Stands in for chat.respond: answers bound senders, counts every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, r, keyring, platform, message):
        self.calls.append(message)
        if message.person and message.type == "text":
            return f"收到{message.person}:{message.text}"
        return None


def app_with(settings, chat=None):
    app = create_app(settings)
    if chat is not None:
        keyring, limits = load_keyring(settings), Limits.of(settings)
        gateway = Gateway(get_redis(settings), keyring, limits, respond=chat)
        app.extensions["qianfa.webhook"] = gateway
    return app


def settings_with(**overrides):
    env = {**os.environ, **{f"QIANFA_{k.upper()}": str(v) for k, v in overrides.items()}}
    return load_settings(env)
