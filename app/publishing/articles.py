"""What a draft becomes in WeChat: image bytes fetched with limits, inline images rewritten,
and the ``draft/add`` article built from a version's content.

WeChat strips images in an article body that do not come from ``media/uploadimg``, so
each inline ``<img src>`` is uploaded and its URL replaced. Images come from an
``upload:<sha256>`` reference (``app.drafts.uploads``) or are downloaded over HTTP(S) through
the egress guard (``app.core.egress``) with a size and time limit.
"""

import html
import re
import time

import requests

from app.core import egress
from app.core.errors import InvalidInput, QianfaError
from app.drafts import lifecycle, uploads

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # WeChat's limit for permanent image material
FETCH_TIMEOUT = (5.0, 15.0)  # connect, read (each read of a chunk)
FETCH_DEADLINE = 30.0  # seconds for a whole download
IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
WECHAT_IMAGE_HOSTS = ("mmbiz.qpic.cn", "mmbiz.qlogo.cn")
TITLE_MAX = 32
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class ImageUnavailable(QianfaError):
    """An image could not be fetched; ``retryable`` says whether trying later may help."""

    code = "image_unavailable"

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def inline_images(content_html: str) -> list[str]:
    """The distinct ``<img src>`` of an article body that must be uploaded, in order."""
    found = []
    for match in IMG_SRC.finditer(content_html):
        src = html.unescape(match.group(3)).strip()
        if _needs_upload(src) and src not in found:
            found.append(src)
    return found


def _needs_upload(src: str) -> bool:
    if uploads.is_ref(src):
        return True
    if not src.lower().startswith(("http://", "https://")):
        return False  # data: and relative URLs: WeChat drops them, nothing to upload
    host = re.sub(r"^https?://", "", src, flags=re.IGNORECASE).split("/")[0].lower()
    return not host.endswith(WECHAT_IMAGE_HOSTS)


def rewrite_images(content_html: str, urls: dict[str, str]) -> str:
    """The body with each uploaded image's ``src`` replaced by its WeChat URL."""

    def replace(match: re.Match) -> str:
        src = html.unescape(match.group(3)).strip()
        if src not in urls:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(urls[src], quote=True)}{quote}"

    return IMG_SRC.sub(replace, content_html)


def image_bytes(
    r, source: str, allow: egress.Allow, *, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[bytes, str]:
    """The bytes of an image and a file name for WeChat, from an upload ref or a URL.

    WeChat judges a file by its name's extension, which must match the bytes, so the
    name is made from what the bytes are.
    """
    if uploads.is_ref(source):
        upload = uploads.get(r, source)
        data, stem, kind = upload.data, upload.sha256[:16], upload.content_type
    else:
        data, kind = fetch(source, allow, max_bytes=max_bytes)
        stem = "image"
    return data, f"{stem}.{EXTENSIONS[kind]}"


def fetch(
    url: str, allow: egress.Allow, *, max_bytes: int = MAX_IMAGE_BYTES, deadline=FETCH_DEADLINE
) -> tuple[bytes, str]:
    """Download an image through the egress guard with a size and a time limit; its type.

    The bytes must decode fully as the JPEG or PNG they start as, and as the image type
    the server declared, if it declared one.
    """
    data, declared = _download(url, allow, max_bytes, deadline)
    try:
        kind = uploads.check(data, declared, max_bytes=max_bytes)
    except InvalidInput as exc:
        raise ImageUnavailable(f"{exc.message}:{egress.short(url)}", retryable=False) from None
    return data, kind


def _download(url: str, allow: egress.Allow, max_bytes: int, deadline: float):
    """The body (never more than ``max_bytes``) and the declared image type, if any."""
    started = time.monotonic()
    failure = None
    try:
        with egress.Client(allow).get(url, timeout=FETCH_TIMEOUT) as response:
            _check_response(url, response, max_bytes)
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise ImageUnavailable(_too_large(url, max_bytes), retryable=False)
                if time.monotonic() - started > deadline:
                    raise ImageUnavailable(f"下载图片超时:{egress.short(url)}", retryable=True)
            declared = response.headers.get("Content-Type", "")
    except egress.Refused as exc:
        raise ImageUnavailable(exc.message, retryable=False) from None
    except egress.Unresolved as exc:
        failure = f"{exc.message}:{egress.short(url)}"
    except requests.Timeout:
        failure = f"下载图片超时:{egress.short(url)}"
    except requests.RequestException as exc:
        failure = f"无法下载图片({type(exc).__name__}):{egress.short(url)}"
    if failure:
        raise ImageUnavailable(failure, retryable=True)
    if not data:
        raise ImageUnavailable(f"图片是空的:{egress.short(url)}", retryable=False)
    return bytes(data), declared if declared.lower().startswith("image/") else ""


def _check_response(url: str, response: requests.Response, max_bytes: int) -> None:
    status, shown = response.status_code, egress.short(url)
    if status >= 500 or status == 429:
        raise ImageUnavailable(f"图片服务器暂时不可用(HTTP {status}):{shown}", retryable=True)
    if status != 200:
        raise ImageUnavailable(f"图片无法下载(HTTP {status}):{shown}", retryable=False)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageUnavailable(_too_large(url, max_bytes), retryable=False)


def _too_large(url: str, max_bytes: int) -> str:
    return f"图片超过 {max_bytes // (1024 * 1024)} MB:{egress.short(url)}"


def news_article(content: dict[str, str], body_html: str, thumb_media_id: str) -> dict:
    """A ``news`` (图文) article for ``draft/add``; empty optional fields are left out."""
    article = {
        "article_type": "news",
        "title": content["title"],
        "content": body_html,
        "thumb_media_id": thumb_media_id,
    }
    for ours, theirs in (
        ("author", "author"),
        ("digest", "digest"),
        ("source_url", "content_source_url"),
    ):
        if content.get(ours):
            article[theirs] = content[ours]
    return article


def picture_article(content: dict[str, str], image_media_id: str) -> dict:
    """An image post as a ``newspic`` (图片消息): the picture, its caption as title and text."""
    caption = content.get("caption") or ""
    title = caption.splitlines()[0][:TITLE_MAX] if caption.strip() else "图片"
    return {
        "article_type": "newspic",
        "title": title,
        "content": html.escape(caption),
        "image_info": {"image_list": [{"image_media_id": image_media_id}]},
    }


def cover_of(article: dict) -> str:
    """The permanent media_id that identifies one of our WeChat drafts or articles."""
    if article.get("thumb_media_id"):
        return str(article["thumb_media_id"])
    images = ((article.get("image_info") or {}).get("image_list")) or []
    return str(images[0].get("image_media_id", "")) if images else ""


def cover_source(kind: str, content: dict[str, str]) -> str:
    """Where the cover comes from: an article's cover image, an image post's picture."""
    value = content["cover_image" if kind == lifecycle.ARTICLE else "image_url"]
    if not value:
        raise InvalidInput("稿件缺少图片:微信图文必须有封面")
    return value


def draft_article(kind: str, content: dict[str, str], cover: str, urls: dict[str, str]) -> dict:
    """The ``draft/add`` article of an article or image post, once its images are uploaded."""
    if kind == lifecycle.IMAGE:
        return picture_article(content, cover)
    return news_article(content, rewrite_images(content["content_html"], urls), cover)
