"""Exactly once: real worker processes killed by SIGKILL before and after each WeChat call.

A worker started with ``QIANFA_TEST_CRASH_AT=<when>:<step>`` kills its whole process group
at that point. Then the sweeper re-queues the lost publication, a fresh worker finishes it,
and the sandbox's record shows exactly one mass send or one article.
"""

import os
import signal
import subprocess
import sys

import pytest

from app.core import keys
from app.drafts import lifecycle
from app.publishing import record as pubs
from app.publishing import schedule
from app.publishing.crashpoints import CRASH_ENV
from tests.conftest import wait_until
from tests.publishing_helpers import (
    approved,
    article_content,
    image_server,
    publish_env,
    publish_settings,
    wechat_world,
)
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, SECRET

TEXT_POINTS = ["after:start", "before:send", "after:send"]
ARTICLE_POINTS = [
    "after:start",
    "before:cover",
    "after:cover",
    "before:images",
    "after:images",
    "before:draft",
    "after:draft",
    "before:submit",
    "after:submit",
]


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        control.add_user(APPID, nickname="读者甲")
        yield url, control


@pytest.fixture
def images():
    with image_server() as server:
        yield server


def start_worker(api_base: str, *, crash_at: str = "", scheduler: bool = False):
    """A real worker on the publishing queue, in its own process group."""
    env = {**os.environ, **publish_env(api_base, publish_lease=1)}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    args = [sys.executable, "-m", "app", "worker", "publishing"]
    args += ["--with-scheduler"] if scheduler else ["--burst", "--without-scheduler"]
    return subprocess.Popen(args, env=env, start_new_session=True)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def crash_then_resume(r, url: str, draft, crash_at: str) -> None:
    """Run the publication in a worker that dies at ``crash_at``, sweep, finish in another."""
    settings = publish_settings(url)
    schedule.schedule(r, draft.id, settings=settings)
    crashing = start_worker(url, crash_at=crash_at)
    try:
        assert crashing.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(crashing)
    pub = schedule.publication_of(r, draft.id)
    assert not pub.finished, f"the worker died at {crash_at} before finishing"
    # The dead worker's lease lapses; then the periodic sweeper finds the lost run.
    wait_until(lambda: not r.exists(keys.publication_lease(draft.id)), message="lease lapse")
    assert schedule.sweep(r, settings=settings) == [pub.member]
    resuming = start_worker(url, scheduler=True)
    try:
        wait_until(
            lambda: schedule.publication_of(r, draft.id).finished,
            timeout=30,
            message="the resumed publication to finish",
        )
    finally:
        stop(resuming)


@pytest.mark.parametrize("crash_at", TEXT_POINTS)
def test_text_post_killed_at_each_step_is_mass_sent_once(r, sandbox, crash_at):
    """Killed before or after the mass send, the text goes out exactly once."""
    url, control = sandbox
    w = wechat_world(r, publish_settings(url))
    draft = approved(r, w)
    crash_then_resume(r, url, draft, crash_at)
    assert len(control.account(APPID)["mass_sends"]) == 1
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
    assert schedule.publication_of(r, draft.id).step == pubs.DONE


@pytest.mark.parametrize("crash_at", ARTICLE_POINTS)
def test_article_killed_at_each_step_is_published_once(r, sandbox, images, crash_at):
    """Killed before or after any WeChat call, the article is published exactly once."""
    url, control = sandbox
    w = wechat_world(r, publish_settings(url))
    content = article_content([images.url("/a.png")], cover_image=images.url("/cover.png"))
    draft = approved(r, w, "article", content)
    crash_then_resume(r, url, draft, crash_at)
    account = control.account(APPID)
    assert len(account["articles"]) == 1
    assert account["drafts"] == []  # no second WeChat draft left behind
    pub = schedule.publication_of(r, draft.id)
    assert (
        pub.step == pubs.DONE and pub.article_url == account["articles"][0]["news_item"][0]["url"]
    )
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


def test_killed_after_submit_while_wechat_still_publishes(r, sandbox, images):
    """The submit reached WeChat but its job is still running when the worker resumes: the
    same WeChat draft is submitted again, the second job fails because the first one took
    the draft, and Qianfa finds the one article instead of failing."""
    url, control = sandbox
    control.configure(publish_delay=600)
    w = wechat_world(r, publish_settings(url))
    draft = approved(r, w, "article", article_content([], cover_image=images.url("/cover.png")))
    settings = publish_settings(url)
    schedule.schedule(r, draft.id, settings=settings)
    crashing = start_worker(url, crash_at="after:submit")
    try:
        assert crashing.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(crashing)
    wait_until(lambda: not r.exists(keys.publication_lease(draft.id)), message="lease lapse")
    schedule.sweep(r, settings=settings)
    resuming = start_worker(url, scheduler=True)
    try:
        wait_until(lambda: len(control.account(APPID)["publish_jobs"]) == 2, timeout=30)
        control.flush_jobs()
        wait_until(
            lambda: schedule.publication_of(r, draft.id).finished,
            timeout=30,
            message="the publication to finish",
        )
    finally:
        stop(resuming)
    account = control.account(APPID)
    assert len(account["articles"]) == 1
    assert sorted(job["publish_status"] for job in account["publish_jobs"]) == [0, 3]
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
