"""Reviewers told that a draft's picture checks were running hear how they ended (issue 18):
ready to approve, or blocked. The dispatcher and a worker run in this process against the
sandbox WeChat; the pictures' text is already known by content hash, so OCR does not run."""

import hashlib

import pytest

from app.core.settings import get_settings
from app.drafts import lifecycle, picture_text
from app.notify import draft_notices
from app.screening import ocr
from tests.factories import actor
from tests.images import text_picture
from tests.notify_helpers import office
from tests.publishing_helpers import image_server
from tests.sandbox_helpers import running_sandbox

PROHIBITED = "欢迎参加网络赌博讲座"


@pytest.fixture
def ocr_office(r, monkeypatch):
    monkeypatch.setenv("QIANFA_PICTURE_OCR", "on")
    get_settings.cache_clear()
    with running_sandbox() as (url, control, _):
        yield office(r, control, monkeypatch, url)
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "words, outcome, status",
    [
        ("欢迎参加学术讲座", "现在可以审核", lifecycle.IN_REVIEW),
        (PROHIBITED, "已被拦截", lifecycle.BLOCKED),
    ],
)
def test_reviewers_told_picture_checks_were_running_hear_how_they_ended(
    r, ocr_office, words, outcome, status
):
    o = ocr_office
    o.bind(o.w.responsible)
    o.writes(o.w.responsible)
    poster = text_picture(words)
    picture_text.remember(r, hashlib.sha256(poster).hexdigest(), ocr.Result(text=words))
    with image_server({"/poster.png": poster}) as images:
        content = {"title": "讲座通知", "content_html": "<p>本周讲座安排。</p>"}
        content["cover_image"] = images.url("/poster.png")
        draft = lifecycle.create(r, actor(o.w.admin), o.w.platform, "article", content)
        lifecycle.submit(r, actor(o.w.admin), draft.id)
        o.settle()

    assert lifecycle.get(r, draft.id).status == status
    texts = [line["content"] for line in o.received(o.w.responsible)]
    assert draft_notices.PICTURES_RUNNING in texts[0], texts
    finished = [text for text in texts if "图片检查完成" in text]
    assert len(finished) == 1 and outcome in finished[0], texts


def test_reviewers_not_told_of_running_checks_hear_nothing_more(r, ocr_office):
    """Pictures read before the review notice went out: the notice says nothing of them,
    and no second message follows."""
    o = ocr_office
    o.bind(o.w.responsible)
    o.writes(o.w.responsible)
    poster = text_picture("学术讲座")
    picture_text.remember(r, hashlib.sha256(poster).hexdigest(), ocr.Result(text="学术讲座"))
    with image_server({"/poster.png": poster}) as images:
        content = {"title": "讲座", "content_html": "<p>安排。</p>"}
        content["cover_image"] = images.url("/poster.png")
        draft = lifecycle.create(r, actor(o.w.admin), o.w.platform, "article", content)
        draft = lifecycle.submit(r, actor(o.w.admin), draft.id)
        picture_text.check(r, draft.id, draft.content_hash, o.settings)  # before the notice
        o.settle()

    texts = [line["content"] for line in o.received(o.w.responsible)]
    assert len(texts) == 1 and draft_notices.PICTURES_RUNNING not in texts[0], texts
