"""Issue #11, processes and logs: attacks on the real `qianfa serve` and `python -m sandbox`.

Each test starts the processes as the Procfile and `qianfa run` do (`python -m app ...`) on
free ports, attacks them over real sockets and reads what they logged.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import requests

from app.core.masterkey import load_keyring
from app.drafts import preview
from app.outbox import dispatch
from app.registry import credentials
from app.wechat.client import WeChatAPI
from sandbox.client import SandboxControl
from tests.conftest import free_port, wait_until
from tests.factories import OPERATOR, submitted, text_draft, world
from tests.sandbox_helpers import SAMPLE_AES_KEY, SAMPLE_TOKEN
from tests.webhook_helpers import ORIGINAL_ID, PLATFORM, active_platform, signed, text
from tests.wechat_helpers import wechat_settings

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 10  # what a monitor or WeChat gives a request; no timing beyond it
SLOW_CLIENTS = 50


@contextmanager
def qianfa_process(log_path, *args, module="app", **env):
    """``python -m MODULE ARGS`` with ``QIANFA_*`` overrides; its log (stderr) goes to
    ``log_path``, what it prints for a person (stdout) beside it, in ``<name>.stdout``."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environ.update({f"QIANFA_{name.upper()}": str(value) for name, value in env.items()})
    with open(log_path, "w") as log, open(log_path.with_suffix(".stdout"), "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], env=environ, stdout=out, stderr=log
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


@contextmanager
def web_server(log_path, **env):
    """``qianfa serve`` (the Procfile's web process) on a free port; yields its base URL."""
    port = free_port()
    with qianfa_process(log_path, "serve", port=port, **env) as proc:
        wait_until(
            lambda: listening(port) or proc.poll() is not None, timeout=30, message="qianfa serve"
        )
        assert proc.poll() is None, log_path.read_text()
        yield f"http://127.0.0.1:{port}"


def get(url: str, timeout: float = CLIENT_TIMEOUT, **headers):
    """(status, JSON body) of a GET, 4xx and 5xx included."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


# --- slowloris ---------------------------------------------------------------------------


class Slowloris:
    """Slow clients that never finish: headers one byte at a time, or a body that never ends."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> "Slowloris":
        for i in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: qianfa\r\n")
            else:
                head = f"POST /wechat/{PLATFORM} HTTP/1.1\r\nHost: qianfa\r\n"
                sock.sendall(f"{head}Content-Length: 60000\r\n\r\n<xml>".encode())
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        """One more byte on every connection, every fifth of a second, until stopped."""
        while not self._stop.wait(0.2):
            for i, sock in enumerate(self.sockets):
                try:
                    sock.send(b"X" if i % 2 else b"a")
                except OSError:
                    pass

    def all_open(self) -> bool:
        """No connection was answered or closed by the server: each is still mid-request."""
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                sock.recv(1, socket.MSG_PEEK)
                return False
            except BlockingIOError:
                continue
        return True

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def test_fifty_slowloris_connections_leave_healthz_and_webhook_answering(r, settings, tmp_path):
    """50 slow clients hold their connections open; /healthz and the webhook still answer."""
    active_platform(r, settings)
    with web_server(tmp_path / "web.log") as base:
        port = int(base.rsplit(":", 1)[1])
        with Slowloris(port, SLOW_CLIENTS) as slow:
            status, body = get(f"{base}/healthz")
            assert status == 200 and body["redis"]["ok"] is True
            params, payload = signed(text("你好"))
            response = requests.post(
                f"{base}/wechat/{PLATFORM}?{urlencode(params)}",
                data=payload.encode(),
                timeout=CLIENT_TIMEOUT,
            )
            assert response.status_code == 200, response.text
            assert slow.all_open()


# --- /healthz ----------------------------------------------------------------------------


def outside_address() -> str | None:
    """This machine's address on its network, as a caller from elsewhere reaches it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_healthz_with_redis_down_answers_503_fast_and_tells_strangers_only_the_status(tmp_path):
    """Redis at a closed port: 503 within a monitor's 3 s; a proxied caller sees no host."""
    dead_port = free_port()
    with web_server(tmp_path / "web.log", redis_url=f"redis://127.0.0.1:{dead_port}/0") as base:
        status, body = get(f"{base}/healthz", timeout=3, **{"X-Forwarded-For": "203.0.113.7"})
        assert (status, body) == (503, {"status": "down"})
        status, body = get(f"{base}/healthz", timeout=3)
        assert status == 503 and body["redis"]["ok"] is False  # the operator, on this machine
        assert str(dead_port) in body["redis"]["where"]


def test_healthz_from_another_machine_shows_no_redis_host_or_worker_names(r, tmp_path):
    """A caller from the network learns whether Qianfa is up, nothing about its insides."""
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    worker = subprocess.Popen([sys.executable, "-m", "app", "worker"])
    try:
        with web_server(tmp_path / "web.log", host="0.0.0.0") as base:
            port = base.rsplit(":", 1)[1]
            wait_until(lambda: get(f"{base}/healthz")[1]["workers_alive"] == 1, timeout=30)
            status, body = get(f"http://{address}:{port}/healthz", timeout=3)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    assert (status, body) == (200, {"status": "degraded"})  # no dispatcher runs


# --- logs --------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path):
    """``python -m sandbox`` (as `qianfa run` starts it) on a free port; yields (url, log)."""
    port, log_path = free_port(), tmp_path / "sandbox.log"
    with qianfa_process(log_path, "--port", str(port), module="sandbox"):
        wait_until(lambda: listening(port), timeout=30, message="python -m sandbox")
        yield f"http://127.0.0.1:{port}", log_path


def test_logs_show_no_appsecret_access_token_preview_token_signature_or_openid(
    r, settings, sandbox, tmp_path
):
    """A token fetch, a callback and a preview through real processes; their logs stay clean."""
    sandbox_url, sandbox_log = sandbox
    appid = "wx" + secrets.token_hex(8)
    app_secret, openid = secrets.token_hex(16), "oLeak" + secrets.token_hex(11)
    w = world(r, platform_id=PLATFORM, appid=appid)
    keyring = load_keyring(settings)
    for name, value in (
        ("app_secret", app_secret),
        ("token", SAMPLE_TOKEN),
        ("encoding_aes_key", SAMPLE_AES_KEY),
    ):
        credentials.set_secret(r, keyring, OPERATOR, PLATFORM, name, value)
    web_log, worker_log, dispatcher_log = (tmp_path / f"{n}.log" for n in PROCESSES)
    with (
        web_server(web_log, wechat_api_base=sandbox_url) as base,
        qianfa_process(worker_log, "worker", wechat_api_base=sandbox_url),
        qianfa_process(dispatcher_log, "dispatcher", wechat_api_base=sandbox_url),
    ):
        control = SandboxControl(sandbox_url)
        control.add_account(
            appid=appid,
            secret=app_secret,
            token=SAMPLE_TOKEN,
            encoding_aes_key=SAMPLE_AES_KEY,
            encrypt_mode="safe",
            original_id=ORIGINAL_ID,
            server_url=f"{base}/wechat/{PLATFORM}",
        )
        control.add_user(appid, openid=openid, nickname="泄露测试")
        api = WeChatAPI.for_platform(r, PLATFORM, wechat_settings(sandbox_url))
        access_token = api.tokens.current()  # GET /cgi-bin/token?appid=..&secret=..
        requests.get(f"{sandbox_url}/cgi-bin/user/info?access_token={access_token}", timeout=5)
        delivery = control.send(appid, openid, type="text", content="你好")
        assert delivery["outcome"] in ("acked", "replied"), delivery
        draft = text_draft(r, w)
        link = preview.link(keyring, base, draft.id, 1, settings.preview_ttl)
        answer = requests.get(link, timeout=CLIENT_TIMEOUT, headers={"X-Request-Id": "req-42"})
        assert answer.status_code == 200 and answer.headers["X-Request-Id"] == "req-42"
        generated = requests.get(f"{base}/healthz", timeout=CLIENT_TIMEOUT)
        wait_until(lambda: dispatch.heartbeats(r, 60), timeout=30, message="the dispatcher")
        submitted(r, w)  # the dispatcher queues notify_reviewers, a worker runs it
        wait_until(lambda: job_logged(worker_log), timeout=30, message="a job's log line")
    lines = {path.stem: json_lines(path) for path in (web_log, worker_log, dispatcher_log)}
    lines["sandbox"] = json_lines(sandbox_log)
    assert {line["process"] for line in lines["web"]} == {"web"}
    assert any(line.get("request_id") == "req-42" for line in lines["web"]), "the caller's id"
    assert any(line.get("request_id") == generated.headers["X-Request-Id"] for line in lines["web"])
    assert any(line.get("request_id") for line in lines["sandbox"])
    logged = web_log.read_text() + sandbox_log.read_text()
    logged += worker_log.read_text() + dispatcher_log.read_text()
    bearer = link.rsplit("/", 1)[1]
    for secret in (app_secret, access_token, openid, bearer, bearer.split(".")[1]):
        assert secret not in logged
    assert not re.search(r"[?&][a-z_]+=(?!\*\*\*)", logged), "a query value was logged"
    # The requests were logged all the same, with their shape.
    assert "/cgi-bin/token?grant_type=***" in logged
    assert f"/wechat/{PLATFORM}?" in logged and "signature=***" in logged
    assert "/preview/***" in logged


PROCESSES = ("web", "worker", "dispatcher")


def json_lines(path) -> list[dict]:
    """Every line a process logged, each one a JSON object (else the test fails here)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def job_logged(path) -> bool:
    return any(line.get("job_id", "").startswith("notify_reviewers") for line in json_lines(path))
