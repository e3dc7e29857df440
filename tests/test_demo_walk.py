"""The README's demo, walked as a newcomer does: `make run`'s process, the sandbox page in
a real headless Chromium, and a restart in the middle (issue 13, "Done when").

Bind both staff members, compose an article with a picture, stop and start `qianfa run`
again, submit, approve and see the article published on the sandbox page. Screenshots of
the walk go to a temporary folder; with ``QIANFA_DEMO_SCREENSHOTS=docs/screenshots`` they
refresh the README's and docs' pictures (``demo-*.png``).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sandbox.demo import DEMO_ACCOUNT, DEMO_USERS
from tests.conftest import free_port, wait_until
from tests.test_run import healthy_with_worker, local_env

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCREENSHOTS = Path(
    os.environ.get("QIANFA_DEMO_SCREENSHOTS") or Path(tempfile.gettempdir()) / "qianfa-demo"
)
ADMIN, RESPONSIBLE = DEMO_USERS[0], DEMO_USERS[1]
REPLY_WAIT = 60_000  # ms: the page reloads every 3 s; a publication takes a few more


class Run:
    """`qianfa run` in the background, its output in a file read while it runs."""

    def __init__(self, env: dict, log: Path):
        self.log = log
        self.out = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "run"],
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        wait_until(lambda: "接下来:" in self.output(), timeout=90, message="the next steps")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def bind_code(self, nickname: str) -> str:
        found = re.search(f"以「{nickname}」的身份发送:绑定 (\\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self.out.close()
        assert "Qianfa 已停止" in self.output(), self.output()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"demo-{name}.png"), full_page=False)


def card(page, user: dict):
    return page.locator(f"[id='{user['openid']}']")


def say(page, user: dict, text: str = "", *, sample: str = "") -> None:
    """Type into the user's card on the page and send, as a person does."""
    mine = card(page, user)
    if sample:
        mine.locator("select[name=sample]").select_option(sample)
    mine.locator("input[name=content]").fill(text)
    mine.locator("button").click()
    page.wait_for_load_state()


def expect_reply(page, user: dict, words: str) -> None:
    """Wait for a bubble in the user's chat with these words (the page reloads itself)."""
    page.locator(f"[id='{user['openid']}'] .bubble", has_text=words).last.wait_for(
        timeout=REPLY_WAIT
    )


def test_the_readme_demo_in_a_browser_with_a_restart_in_the_middle(tmp_path, page):
    port, sandbox_port = free_port(), free_port()
    env = local_env(tmp_path / "instance", port, sandbox_port)
    # OCR (seconds a picture) is walked in tests/test_pictures.py; this walk is the chat's.
    env["QIANFA_PICTURE_OCR"] = "off"
    account_page = f"http://127.0.0.1:{sandbox_port}/accounts/{DEMO_ACCOUNT['appid']}"
    run = Run(env, tmp_path / "first.log")
    try:
        wait_until(lambda: healthy_with_worker(port), timeout=60, message="a worker")
        page.goto(account_page)
        say(page, ADMIN, f"绑定 {run.bind_code(ADMIN['nickname'])}")
        expect_reply(page, ADMIN, "绑定成功")
        say(page, RESPONSIBLE, f"绑定 {run.bind_code(RESPONSIBLE['nickname'])}")
        expect_reply(page, RESPONSIBLE, "第一责任人")
        shot(page, "bound")
        say(page, ADMIN, "投稿")
        expect_reply(page, ADMIN, "开始投稿")
        say(page, ADMIN, "今天下午,校运动会在东操场开幕。")
        expect_reply(page, ADMIN, "第 1 段文字")
        say(page, ADMIN, sample="sample-2.png")
        expect_reply(page, ADMIN, "封面")
    finally:
        run.stop()

    run = Run(env, tmp_path / "second.log")  # `make run` again, in the middle of composing
    try:
        wait_until(lambda: healthy_with_worker(port), timeout=60, message="a worker again")
        page.goto(account_page)
        expect_reply(page, ADMIN, "封面")  # the chat is still there
        say(page, ADMIN, "标题 校运动会开幕")
        expect_reply(page, ADMIN, "标题已设为")
        say(page, ADMIN, "提交")
        expect_reply(page, ADMIN, "已提交稿件 D1")
        shot(page, "submitted")
        say(page, RESPONSIBLE, "待审")
        expect_reply(page, RESPONSIBLE, "D1 图文「校运动会开幕」")
        say(page, RESPONSIBLE, "同意 D1")
        expect_reply(page, RESPONSIBLE, "审核已全部通过")
        expect_reply(page, ADMIN, "【已发布】")
        page.locator("td", has_text="校运动会开幕").first.wait_for(timeout=REPLY_WAIT)
        shot(page, "published")
    finally:
        run.stop()
