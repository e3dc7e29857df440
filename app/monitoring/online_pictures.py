"""The text in the pictures of what is online (art. 10 names pictures; art. 15 the watching).

Reconciliation (WeChat articles) and the feed watcher see a post's pictures but never read
them: OCR takes seconds a picture and a loaded engine, so they queue the job
``read_online_pictures`` on the pictures worker's queue with the pictures' addresses. The
job (``workers.jobs.read_online_pictures``) reads each picture through the egress guard
once per content hash (the cache drafts use, ``app.drafts.picture_text``) and screens its
text like the article's (``online.check_pictures``); this module imports neither, so the
web process that reconciles never loads the OCR engine. A finding raises ``online_content``
naming the picture (封面图片, 正文第 2 张图片). A picture that cannot be fetched or read
is skipped: the post is online already, and its text alone was screened.
"""

import html
import re
from urllib.parse import urljoin

import redis

from app.core.settings import get_settings
from app.outbox import queues
from app.screening import pictures

MAX_PICTURES = 20  # per post; a page with more is read up to here
IMG = re.compile(r"""<img\b[^>]*?\b(?:data-src|src)\s*=\s*(["'])(.*?)\1""", re.I | re.S)
COVER = f"{pictures.PREFIX}cover_image"


def of_news(news: list[dict]) -> list[tuple[str, str]]:
    """(field, URL) of a WeChat publication's pictures: each cover, then the inline ones."""
    covers = [str(item.get("thumb_url") or "") for item in news]
    inline = [
        html.unescape(m.group(2)) for item in news for m in IMG.finditer(item.get("content") or "")
    ]
    return _named(covers[:1], inline, "")


def of_page(images: tuple[str, ...], page_url: str) -> list[tuple[str, str]]:
    """(field, URL) of the pictures in a page's article, resolved against its address."""
    return _named([], list(images), page_url)


def _named(covers: list[str], inline: list[str], base: str) -> list[tuple[str, str]]:
    found = [(COVER, url) for url in covers if _fetchable(url)]
    seen: list[str] = []
    for src in inline:
        url = urljoin(base, src.strip()) if base else src.strip()
        if _fetchable(url) and url not in seen:
            seen.append(url)
    found += [(f"{pictures.PREFIX}content_html:{n}", url) for n, url in enumerate(seen, 1)]
    return found[:MAX_PICTURES]


def _fetchable(url: str) -> bool:
    """Only http(s): a page is hostile, and an ``upload:`` reference is Qianfa's own."""
    return url.lower().startswith(("http://", "https://"))


def queue(r: redis.Redis, platform_id: str, article_id: str, found, **where) -> bool:
    """Hand a post's pictures to the pictures worker, when OCR is on and it has some."""
    if not found or not get_settings().picture_ocr:
        return False
    queues.enqueue_online_pictures(r, platform_id, article_id, [list(p) for p in found], where)
    return True
