"""The text in the pictures of what is online (issue 18): reconciliation and the feed watcher
hand a post's pictures to the pictures worker, which reads them once per content hash and
raises ``online_content`` naming the picture. One test runs the real OCR engine on one
small picture; the other knows the picture's text by its hash, as a second sighting would."""

import hashlib

import pytest
from rq import SimpleWorker

from app.core import alerts, keys
from app.core.settings import get_settings
from app.drafts import picture_text
from app.monitoring import feeds, reconcile
from app.outbox import queues
from app.registry import sites
from app.screening import ocr
from app.wechat.client import WeChatAPI
from tests.factories import OPERATOR
from tests.images import text_picture
from tests.manual_helpers import manual_world
from tests.publishing_helpers import image_server
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, PLATFORM, SECRET

PROHIBITED = "欢迎参加网络赌博讲座"


@pytest.fixture
def ocr_on(monkeypatch):
    monkeypatch.setenv("QIANFA_PICTURE_OCR", "on")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def sandbox(ocr_on):
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        yield url, control


def _pictures_worker(r) -> None:
    SimpleWorker([queues.queue(r, queues.PICTURES)], connection=r).work(burst=True)


def _online_content(r) -> list[alerts.Alert]:
    return [alert for alert in alerts.recent(r, 1000) if alert.kind == "online_content"]


def test_a_picture_in_a_wechat_article_is_read_in_the_pictures_worker_and_screened(
    r, control, pset, w
):
    """Published from the back office: the words pass, the picture does not."""
    poster = text_picture(PROHIBITED)
    picture_text.remember(r, hashlib.sha256(poster).hexdigest(), ocr.Result(text=PROHIBITED))
    with image_server({"/poster.png": poster}) as images:
        body = f'<p>本周活动海报。</p><p><img src="{images.url("/poster.png")}"></p>'
        control.backoffice_publish(APPID, title="本周活动", content=body)
        api = WeChatAPI.for_platform(r, PLATFORM, pset)
        done = reconcile.reconcile(r, api, PLATFORM)
        assert done.alerts == ["unreviewed_publication"]  # the text alone is clean
        assert queues.queue(r, queues.PICTURES).count == 1  # read later, not in the round
        _pictures_worker(r)

    [alert] = _online_content(r)
    assert alert.platform == PLATFORM
    assert any("正文第 1 张图片中的文字" in place for place in alert.detail["places"])
    assert "网络赌博" in alert.message and alert.detail["title"] == "本周活动"
    reconcile.reconcile(r, api, PLATFORM, force=True)
    assert queues.queue(r, queues.PICTURES).count == 0  # seen before: nothing queued again


def test_a_picture_on_a_feed_item_is_read_with_ocr_and_raises_online_content(r, ocr_on):
    with running_sandbox() as (_, control, _world):
        w, site = manual_world(r, control)
        sites.set_feed(r, OPERATOR, w.platform, site["feed_url"])
        feeds.poll_due(r, settings=ocr_on, now=float("inf"))  # the baseline
        poster = text_picture(PROHIBITED)
        with image_server({"/poster.png": poster}) as images:
            html = f'<p>活动海报如下。</p><p><img src="{images.url("/poster.png")}"></p>'
            item = control.publish_item("news", title="本周活动", html=html)
            feeds.poll_due(r, settings=ocr_on, now=float("inf"))
            assert _online_content(r) == []  # the page's words are clean
            _pictures_worker(r)

    [alert] = _online_content(r)
    assert alert.detail["url"] == item["url"] and alert.platform == w.platform
    assert any("正文第 1 张图片中的文字" in place for place in alert.detail["places"])
    cached = r.hget(keys.picture_text(hashlib.sha256(poster).hexdigest()), "text").decode()
    assert "网络赌博" in cached  # read once: the next sighting takes it from here
