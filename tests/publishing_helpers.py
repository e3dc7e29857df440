"""Helpers for the publishing tests: an approved draft on a platform the sandbox knows,
settings aimed at the sandbox, a tiny image server, and running a publication to its end."""

import os
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.core.masterkey import load_keyring
from app.core.settings import Settings, load_settings
from app.drafts import lifecycle, review
from app.publishing import schedule
from app.registry import credentials, platforms
from tests.factories import OPERATOR, World, actor, world
from tests.images import JPEG, png
from tests.wechat_helpers import APPID, PLATFORM, SECRET

COVER = png(200)
INLINE = png(50)


def publish_env(api_base: str, **env) -> dict[str, str]:
    """Environment for processes publishing against ``api_base``; quick retries by default."""
    values = {
        "QIANFA_WECHAT_API_BASE": api_base,
        "QIANFA_PUBLISH_RETRY_BASE": "0.05",
        "QIANFA_PUBLISH_LEASE": "30",
    }
    values.update({f"QIANFA_{name.upper()}": str(value) for name, value in env.items()})
    return values


def publish_settings(api_base: str, **env) -> Settings:
    return load_settings({**os.environ, **publish_env(api_base, **env)})


def wechat_world(r, settings: Settings, *, tier: int = 2) -> World:
    """An active platform with the sandbox account's AppID, its AppSecret sealed under the
    key this process's settings (and so the workers') use."""
    w = world(r, tier=tier, platform_id=PLATFORM, appid=APPID)
    credentials.set_secret(r, load_keyring(settings), OPERATOR, PLATFORM, "app_secret", SECRET)
    return w


def approved(
    r, w: World, kind: str = "text", content: dict | None = None, *, text: str = "", **kwargs
):
    """A draft of ``kind`` submitted and signed off by everyone it needs."""
    content = content or {"text": text or "计算机学院举办程序设计竞赛"}
    draft = lifecycle.create(r, actor(w.admin), w.platform, kind, content, **kwargs)
    draft = lifecycle.submit(r, actor(w.admin), draft.id)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    if platforms.get(r, w.platform).tier == 1 or draft.flags:
        review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
    return lifecycle.get(r, draft.id)


def article_content(images, **fields) -> dict:
    body = "<p>比赛结果如下。</p>" + "".join(f'<p><img src="{src}" alt=""></p>' for src in images)
    return {"title": "程序设计竞赛", "content_html": body, **fields}


def finish(r, control, draft_id: str, settings: Settings, rounds: int = 20) -> str:
    """Run the publication in this process until it is finished, letting the sandbox work."""
    draft = lifecycle.get(r, draft_id)
    outcome = ""
    for _ in range(rounds):
        outcome = schedule.run(r, draft.id, draft.version, settings=settings)
        pub = schedule.publication_of(r, draft.id)
        if pub.finished:
            return pub.step
        control.wait_idle()
    raise AssertionError(f"publication of {draft_id} did not finish: {outcome}")


class ImageServer:
    """A real HTTP server with a few images, for covers and inline pictures given by URL."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = {"/cover.png": COVER, "/a.png": INLINE, "/b.jpg": JPEG, **(files or {})}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                data = server.files.get(self.path)
                if data is None:
                    status = 503 if self.path.startswith("/busy") else 404
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> "ImageServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def image_server(files: dict[str, bytes] | None = None):
    with ImageServer(files) as server:
        yield server


# Fixtures of the tests that publish through the sandbox; each module brings its own
# ``sandbox`` fixture (the accounts and users it needs), these build on it.


@pytest.fixture
def control(sandbox):
    return sandbox[1]


@pytest.fixture
def pset(sandbox):
    return publish_settings(sandbox[0])


@pytest.fixture
def w(r, pset):
    return wechat_world(r, pset)


@pytest.fixture
def images():
    with image_server() as server:
        yield server
