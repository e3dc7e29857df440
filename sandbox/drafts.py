"""The draft box (草稿箱): what ``draft/*`` accepts, stores and gives back.

Limits are DOC-SUB's 2025-12 text: title 32 characters (45003), author 16 (45110),
digest 128 (45004), content under 20 000 characters and 1 MB (45002), "阅读原文" URL
1 KB (45005), at most 8 articles (45008). Covers must be permanent material (40007).
Title and author sent as ``\\uXXXX`` escapes are refused with 40033, as WeChat does.
"""

import re

from sandbox import media
from sandbox.errors import WeChatError
from sandbox.state import Account, World

MAX_ARTICLES = 8
TEXT_LIMITS = (("title", 32, 45003), ("author", 16, 45110), ("digest", 128, 45004))
FLAGS = ("need_open_comment", "only_fans_can_comment")
KEPT = ("pic_crop_235_1", "pic_crop_1_1", "cover_info", "product_info")
# The API keeps \uXXXX escapes literal (see api.base.parse_json); here they are refused.
LITERAL_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")


def has_escape(value: str) -> bool:
    return bool(LITERAL_ESCAPE.search(value))


def _text(article: dict, name: str) -> str:
    value = article.get(name, "")
    if not isinstance(value, str):
        raise WeChatError(47001)
    return value


def _check_texts(article: dict) -> dict:
    texts = {name: _text(article, name) for name in ("title", "author", "digest", "content")}
    texts["content_source_url"] = _text(article, "content_source_url")
    if not texts["title"]:
        raise WeChatError(47003, "title is empty")
    if has_escape(texts["title"]) or has_escape(texts["author"]):
        raise WeChatError(40033)
    for name, limit, errcode in TEXT_LIMITS:
        if len(texts[name]) > limit:
            raise WeChatError(errcode)
    if len(texts["content"]) >= 20_000 or len(texts["content"].encode("utf-8")) >= media.MB:
        raise WeChatError(45002)
    if len(texts["content_source_url"].encode("utf-8")) > 1024:
        raise WeChatError(45005)
    return texts


def _check_images(account: Account, article: dict, kind: str) -> dict:
    if kind == "news":
        cover = media.permanent(account, _text(article, "thumb_media_id"))
        if cover is None:
            raise WeChatError(40007)
        return {"thumb_media_id": cover["media_id"], "thumb_url": cover["url"]}
    images = ((article.get("image_info") or {}).get("image_list")) or []
    if not isinstance(images, list) or not 1 <= len(images) <= 20:
        raise WeChatError(44003)
    for image in images:
        if not isinstance(image, dict) or not media.permanent(
            account, str(image.get("image_media_id", "")), ("image",)
        ):
            raise WeChatError(40007)
    return {"image_info": {"image_list": images}}


def check_article(account: Account, article) -> dict:
    """One article as WeChat would store it, or the errcode WeChat answers for it."""
    if not isinstance(article, dict):
        raise WeChatError(47001)
    kind = article.get("article_type", "news")
    if kind not in ("news", "newspic"):
        raise WeChatError(47003, "article_type")
    texts = _check_texts(article)
    if kind == "news" and not texts["content"]:
        raise WeChatError(44003)
    stored = {"article_type": kind, **texts, **_check_images(account, article, kind)}
    for flag in FLAGS:
        stored[flag] = 1 if article.get(flag) in (1, "1", True) else 0
    stored.update({key: article[key] for key in KEPT if key in article})
    return stored


def add(world: World, account: Account, articles) -> str:
    """``draft/add``: store the articles, return the draft's media_id."""
    if not isinstance(articles, list) or not articles:
        raise WeChatError(44003)
    if len(articles) > MAX_ARTICLES:
        raise WeChatError(45008)
    checked = [check_article(account, article) for article in articles]
    media_id = world.random_text(43)
    now = int(world.now())
    account.drafts[media_id] = {
        "media_id": media_id,
        "articles": checked,
        "create_time": now,
        "update_time": now,
    }
    return media_id


def get(account: Account, media_id: str) -> dict:
    draft = account.drafts.get(media_id)
    if draft is None:
        raise WeChatError(40007)
    return draft


def news_items(draft: dict, with_content: bool = True) -> list[dict]:
    """The ``news_item`` list WeChat shows for a draft, with its temporary preview URL."""
    items = []
    for index, article in enumerate(draft["articles"]):
        item = {**article, "url": preview_url(draft["media_id"], index)}
        if not with_content:
            item.pop("content", None)
        items.append(item)
    return items


def preview_url(media_id: str, index: int) -> str:
    return f"http://mp.weixin.qq.com/s?__biz=sandbox&tempkey={media_id}&idx={index + 1}"


def update(world: World, account: Account, media_id: str, index: int, article) -> None:
    """``draft/update``: ``articles`` is one object and ``index`` counts from 0."""
    draft = get(account, media_id)
    if not isinstance(article, dict):
        raise WeChatError(47001)
    if not 0 <= index < len(draft["articles"]):
        raise WeChatError(47003, "index")
    draft["articles"][index] = check_article(account, article)
    draft["update_time"] = int(world.now())


def page(records: list[dict], offset: int, count: int) -> list[dict]:
    """One ``batchget`` page, newest first; WeChat takes 1 to 20 items per page."""
    if not 1 <= count <= 20 or offset < 0:
        raise WeChatError(47003, "count")
    # Ties (same second) go to the later-created record: dicts keep creation order.
    ordered = sorted(enumerate(records), key=lambda pair: (pair[1]["update_time"], pair[0]))
    return [record for _, record in reversed(ordered)][offset : offset + count]
