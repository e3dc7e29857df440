"""Text in pictures (art. 10): read by OCR in the pictures worker, screened, blocking the draft.

One test runs the real engine (seconds); the others use the cache by content hash or
pictures that fail before OCR, so the suite stays fast.
"""

import hashlib
import subprocess
import sys

import pytest

from app import screening
from app.core import keys
from app.core.errors import Conflict
from app.core.settings import get_settings
from app.drafts import lifecycle, picture_text, review
from app.notify import draft_notices
from app.outbox import dispatch, queues
from app.registry import platforms
from app.screening import ocr, pictures
from tests.factories import actor, world
from tests.images import FAKE_PNG, text_picture
from tests.publishing_helpers import image_server
from workers.worker import run_worker

PROHIBITED = "欢迎参加网络赌博讲座"


@pytest.fixture
def ocr_on(monkeypatch):
    monkeypatch.setenv("QIANFA_PICTURE_OCR", "on")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def submitted(r, w, kind: str, content: dict) -> lifecycle.Draft:
    draft = lifecycle.create(r, actor(w.admin), w.platform, kind, content)
    return lifecycle.submit(r, actor(w.admin), draft.id)


def hits_in_pictures(r, draft_id: str):
    found = pictures_result(r, draft_id)
    return [h for h in found.hits if h.field.startswith(pictures.PREFIX)]


def pictures_result(r, draft_id: str):
    return screening.result_for(r, draft_id)


def test_prohibited_text_in_the_cover_blocks_the_draft_before_approval(r, ocr_on):
    """End to end: the submit record routed to the pictures queue, the worker reads the cover."""
    w = world(r)
    dispatch.Dispatcher(r, ocr_on, name="test").ensure_groups()
    poster = text_picture(PROHIBITED)
    with image_server({"/poster.png": poster}) as images:
        content = {"title": "讲座通知", "content_html": "<p>本周讲座安排。</p>"}
        draft = submitted(r, w, "article", {**content, "cover_image": images.url("/poster.png")})
        assert draft.status == lifecycle.IN_REVIEW  # the words around the picture pass
        with pytest.raises(Conflict) as refused:
            review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
        assert refused.value.code == "pictures_pending"
        assert "图片文字检查还在进行" in refused.value.message

        dispatcher = dispatch.Dispatcher(r, ocr_on, name="test")
        while dispatcher.step(block_ms=None):
            pass
        run_worker(ocr_on, (queues.PICTURES,), burst=True, with_scheduler=False, mode="simple")

    blocked = lifecycle.get(r, draft.id)
    assert blocked.status == lifecycle.BLOCKED
    assert "封面图片中的文字" in blocked.status_reason
    (hit,) = hits_in_pictures(r, draft.id)
    assert (hit.category, hit.verdict) == ("obscenity_violence", "block")
    assert hit.field == "picture:cover_image"
    cached = r.hget(keys.picture_text(hashlib.sha256(poster).hexdigest()), "text").decode()
    assert "网络赌博" in cached
    with pytest.raises(Conflict):
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)


def test_a_picture_read_before_is_not_read_again(r, ocr_on, monkeypatch):
    """The same bytes in another draft, inline this time: the cached text, no OCR."""
    w = world(r)
    poster = text_picture(PROHIBITED)
    picture_text.remember(r, hashlib.sha256(poster).hexdigest(), ocr.Result(text=PROHIBITED))

    def no_ocr(*_):
        raise AssertionError("OCR ran for a picture already read")

    monkeypatch.setattr(ocr, "read", no_ocr)
    with image_server({"/again.png": poster}) as images:
        body = f'<p>海报如下</p><p><img src="{images.url("/again.png")}"></p>'
        cover = images.url("/again.png")  # a WeChat article needs a cover: the same poster
        content = {"title": "讲座", "content_html": body, "cover_image": cover}
        draft = submitted(r, w, "article", content)
        assert pictures.pending(r, draft, lifecycle.version(r, draft.id).content)
        picture_text.check(r, draft.id, draft.content_hash, ocr_on)

    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    places = sorted(hit.where_zh for hit in hits_in_pictures(r, draft.id))
    assert places[0].startswith("封面图片中的文字") and places[1].startswith(
        "正文第 1 张图片中的文字"
    )


def test_an_undecodable_picture_is_reported_to_the_reviewer(r, ocr_on):
    """Never passed silently, never a crash: 图片无法识别 on the draft, then review goes on."""
    w = world(r)
    with image_server({"/broken.png": FAKE_PNG}) as images:
        content = {"image_url": images.url("/broken.png"), "caption": "校园一角"}
        draft = submitted(r, w, "image", content)
        picture_text.check(r, draft.id, draft.content_hash, ocr_on)

    found = pictures_result(r, draft.id)
    (hit,) = hits_in_pictures(r, draft.id)
    assert (hit.category, hit.verdict, hit.where_zh) == ("unreadable_picture", "warn", "图片")
    assert "无法解码" in hit.term
    assert "图片无法识别" in found.summary_zh()
    assert not pictures.pending(r, draft, content)
    approved = review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert approved.draft.status == lifecycle.APPROVED


def test_a_check_for_an_older_version_changes_nothing(r, ocr_on):
    w = world(r)
    with image_server({"/broken.png": FAKE_PNG}) as images:
        content = {"image_url": images.url("/broken.png"), "caption": "校园一角"}
        draft = submitted(r, w, "image", content)
        newer = lifecycle.edit(r, actor(w.admin), draft.id, {**content, "caption": "新的说明"})
        assert picture_text.check(r, draft.id, draft.content_hash, ocr_on) is None
    assert pictures.pending(r, newer, lifecycle.version(r, draft.id).content)


def sleeper(script: str) -> list[str]:
    ready = "import sys; sys.stdout.write('{\"ready\": true}\\n'); sys.stdout.flush(); "
    return [sys.executable, "-c", ready + script]


def test_ocr_has_a_time_limit_per_picture(r):
    reader = ocr.Reader(sleeper("import time; time.sleep(600)"))
    result = reader.read(text_picture("校园"), timeout=0.3)
    assert result.problem == "识别超时(超过 0.3 秒)"
    assert not result.lasting  # a timeout may pass: not remembered by content hash
    assert reader.child is None  # killed; the next picture starts a new one


def test_an_ocr_process_that_dies_is_a_reported_failure(r):
    reader = ocr.Reader(sleeper("sys.stdin.buffer.read(4); sys.exit(3)"))
    assert reader.read(text_picture("校园"), timeout=30).problem == "文字识别失败"


def test_pictures_too_large_or_broken_are_refused_before_the_engine():
    assert "图片过大" in ocr.Reader(["false"]).read(b"x" * (ocr.MAX_BYTES + 1), 1).problem
    assert ocr.decode(text_picture("校园")[:200]).problem == "图片已损坏,无法解码"
    assert ocr.decode(b"not a picture").problem == "不是可以识别的图片"


def test_the_review_notice_says_the_picture_checks_are_running(r, ocr_on):
    w = world(r)
    draft = submitted(r, w, "image", {"image_url": "https://example.edu.cn/a.png"})
    version = lifecycle.version(r, draft.id)
    platform = platforms.get(r, w.platform)
    notice = draft_notices.review_notice(
        draft, version, platform, "王老师", ["responsible"], "", draft_notices.REVIEW, True
    )
    assert draft_notices.PICTURES_RUNNING in notice.text
    assert pictures.pending(r, draft, version.content)


def test_the_web_process_never_loads_the_ocr_engine(project_root):
    """OCR runs in the pictures worker only: the web app imports neither engine nor reader."""
    probe = (
        "import sys; from app.web import create_app; create_app(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rapidocr_onnxruntime', 'onnxruntime', 'cv2') "
        "or m in ('app.screening.ocr', 'app.drafts.picture_text')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=project_root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
