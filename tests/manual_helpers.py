"""Helpers for the manual channel's tests: a website or Weibo platform whose domain is a
sandbox stand-in site, and a tiny server that answers what a test tells it to."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from app.core import audit, keys
from app.core.settings import get_settings
from app.drafts import lifecycle
from app.publishing import manual
from app.registry import sites
from tests.factories import OPERATOR, World, snapshot, world

ARTICLE_HTML = (
    "<p>5月20日,计算机学院在图书馆报告厅举办第十届程序设计竞赛。</p>"
    "<p>来自全院的120名同学参加了比赛,比赛持续五个小时。</p>"
    "<p>经过激烈角逐,软件工程专业的三名同学获得一等奖。</p>"
)
ARTICLE = {"title": "计算机学院举办程序设计竞赛", "content_html": ARTICLE_HTML}
WEIBO_TEXT = "【喜报】我院学子在全国大学生程序设计竞赛中获得金奖!祝贺他们!"


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def manual_world(r, control, kind: str = "website", site_id: str = "news") -> tuple[World, dict]:
    """An active platform of ``kind`` whose domain is the sandbox, and its stand-in site."""
    w = world(r, platform_id=f"jsj-{kind}", kind=kind)
    site = control.add_site(
        site_id, kind, "计算机学院新闻网" if kind == "website" else "计算机学院"
    )
    sites.set_domain(r, OPERATOR, w.platform, host_of(site["home"]))
    return w, site


def reported(r, who, draft_id: str, url: str):
    """Report a page, then run the check as the job ``check_report`` does: (draft, check)."""
    manual.accept(r, who, draft_id, url)
    record = list(audit.records(r, draft=draft_id, action="publish.report"))[-1]
    check = manual.verify(r, record, get_settings())
    return lifecycle.get(r, draft_id), check


def beside_the_report(r) -> dict:
    """Every key but the audit trail and the reports' checks: what a failed check must not
    change (the draft, its publication, the alerts, the pages)."""
    kept = (keys.audit_stream().encode(), keys.audit_head().encode())
    return {k: v for k, v in snapshot(r).items() if k not in kept and b"manual-check" not in k}


class Scripted:
    """A real HTTP server answering each path with a given (status, headers, body)."""

    def __init__(self, answers: dict[str, tuple[int, dict, bytes]]):
        self.answers = answers
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def _handler(self):
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = answers.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


@contextmanager
def scripted(answers: dict[str, tuple[int, dict, bytes]]):
    server = Scripted(answers)
    server._thread.start()
    try:
        yield server
    finally:
        server._server.shutdown()
        server._server.server_close()
