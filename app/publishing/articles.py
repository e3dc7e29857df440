"""What a draft becomes in WeChat: inline images rewritten, and the ``draft/add`` article
built from a version's content.

WeChat strips images in an article body that do not come from ``media/uploadimg``, so
each inline ``<img src>`` is uploaded and its URL replaced. The images' bytes come from
``app.drafts.images`` (an upload, or a download through the egress guard with limits).
"""

import html
import re

from app.core.errors import InvalidInput
from app.drafts import lifecycle, uploads

IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
WECHAT_IMAGE_HOSTS = ("mmbiz.qpic.cn", "mmbiz.qlogo.cn")
TITLE_MAX = 32


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
