"""Helpers for the sandbox tests: wechatpy pointed at the sandbox, and a callback receiver.

The receiver plays Qianfa's webhook with wechatpy's own signature and crypto code, so a
test shows that what the sandbox sends is what a real WeChat client library accepts.
"""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from sandbox import create_app
from sandbox.client import SandboxControl
from sandbox.config import SandboxConfig
from sandbox.server import serve_in_thread

# Tencent's published sample settings (the WXBizMsgCrypt sample code).
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_APPID = "wx5823bf96d3bd56c7"
SAMPLE_SECRET = "sample-secret"
FAST = {"publish_delay": 0.0, "mass_delay": 0.0, "template_delay": 0.0, "callback_timeout": 2.0}


class SandboxClient(WeChatClient):
    """wechatpy 1.8.18's client aimed at the sandbox.

    ``API_BASE_URL`` covers the API calls; ``fetch_access_token`` is hard-coded to
    api.weixin.qq.com in 1.8.18, so it is overridden with the same request to the sandbox.
    """

    def __init__(self, base_url: str, appid: str, secret: str, **kwargs):
        super().__init__(appid, secret, **kwargs)
        self.API_BASE_URL = f"{base_url}/cgi-bin/"
        self._http.trust_env = False

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


@contextmanager
def running_sandbox(**config):
    """A sandbox on a free port with fast jobs; yields (base_url, control, world)."""
    app = create_app(SandboxConfig(**{**FAST, **config}))
    with serve_in_thread(app) as url:
        yield url, SandboxControl(url), app.extensions["sandbox"]


def register_sample_account(control: SandboxControl, **settings) -> dict:
    spec = {
        "appid": SAMPLE_APPID,
        "secret": SAMPLE_SECRET,
        "token": SAMPLE_TOKEN,
        "encoding_aes_key": SAMPLE_AES_KEY,
        "encrypt_mode": "safe",
        **settings,
    }
    return control.add_account(**spec)


def echo_reply(message, params) -> str:
    """Answer a text message with its own content, as a passive reply."""
    if message.type != "text":
        return "success"
    return TextReply(content=f"收到:{message.content}", message=message).render()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # the sandbox hung up on a held request: that is what the test wanted


class Receiver:
    """A tiny real HTTP server standing in for the account's webhook.

    Every POST is checked with wechatpy (signature, and msg_signature + AES in
    compatible/safe mode) and recorded; ``respond(message, params)`` makes the reply,
    which is encrypted with wechatpy when the sandbox sent ``encrypt_type=aes``.
    ``hold`` makes the first N requests wait (up to 10 s) for ``release`` to be set.
    """

    def __init__(self, token: str, aes_key: str, appid: str, respond=echo_reply):
        self.token, self.respond = token, respond
        self.crypto = WeChatCrypto(token, aes_key, appid)
        self.received: list[dict] = []
        self.encrypt_replies = True
        self.hold = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/wechat/test"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def messages(self) -> list:
        """What arrived, as wechatpy parsed it."""
        with self._lock:
            return [entry["message"] for entry in self.received]

    def events(self, name: str) -> list:
        """Events of one kind (``PUBLISHJOBFINISH``), including those wechatpy does not know."""
        return [m for m in self.messages() if m._data.get("Event") == name]

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = receiver.handle(self.path, body, self.headers)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self):
                params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                check_signature(
                    receiver.token, params["signature"], params["timestamp"], params["nonce"]
                )
                answer = params["echostr"].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        return Handler

    def handle(self, path: str, body: bytes, headers) -> tuple[int, bytes]:
        params = {key: values[0] for key, values in parse_qs(urlparse(path).query).items()}
        check_signature(self.token, params["signature"], params["timestamp"], params["nonce"])
        xml = body.decode("utf-8")
        if params.get("encrypt_type") == "aes":
            xml = self.crypto.decrypt_message(
                body, params["msg_signature"], params["timestamp"], params["nonce"]
            )
        message = parse_message(xml)
        with self._lock:
            self.received.append(
                {"params": params, "body": body, "xml": xml, "message": message, "headers": headers}
            )
            held = len(self.received) <= self.hold
        if held:
            self.release.wait(10)
            return 200, b"success"
        reply = self.respond(message, params)
        if params.get("encrypt_type") == "aes" and self.encrypt_replies and reply != "success":
            reply = self.crypto.encrypt_message(reply, params["nonce"])
        return 200, reply.encode("utf-8")


def storm_fetch(base_url: str, appid: str, secret: str, barrier, results) -> None:
    """In its own process: fetch a token once everyone is ready, then use it."""
    client = SandboxClient(base_url, appid, secret, auto_retry=False)
    barrier.wait(timeout=30)
    token = client.fetch_access_token()["access_token"]
    barrier.wait(timeout=30)  # every process has fetched: each fetch superseded the last
    results.put((token, client.get("draft/count")["total_count"]))


def storm_reuse(base_url: str, appid: str, secret: str, token: str, results) -> None:
    """In its own process: call the API with an old token, letting wechatpy refresh it."""
    client = SandboxClient(base_url, appid, secret, access_token=token)
    count = client.get("draft/count")["total_count"]
    results.put((token, client.access_token, count))
