"""Screening what is online (art. 15: daily monitoring): every article on a platform is
screened when reconciliation first sees it, and again when the lexicons change.

Hits of the verdicts in ``ALERTED`` raise one ``online_content`` alert per article and set
of findings, naming categories, words and places, and its severity: ``high`` when a hit
is ``block`` or ``escalate``, ``low`` when all are ``warn`` (a typo, a wrong leader title
online is still the department's business, but not urgent). The propaganda department
decides what to do (take it down, or not). Nothing is deleted automatically. For an article
Qianfa published, only what its approved version's screening did not already show is
news: the reviewers saw that and signed.

Re-screening needs the article's content, which is not kept; so after a lexicon change
each round re-fetches at most ``RESCREEN_PER_ROUND`` articles, and the later rounds
finish the rest (reconciliation stays cheap, and WeChat's quota is spared).
"""

import hashlib
import json

import redis

from app import screening
from app.core import alerts, audit, keys
from app.core.store import Tx, atomically, decode, timestamp
from app.screening.results import Hit

ACTOR = audit.Actor.system("monitor")
# The verdicts that make a published article an alert, with the measures behind them.
ALERTED = {
    screening.BLOCK: "第十条:禁止在网络平台上制作、复制、发布、传播的信息",
    screening.ESCALATE: "第十一条:未经授权不得发布重大事件、突发事件、社会敏感问题",
    screening.WARN: "第九条、第十条:发布内容须准确规范(提示性问题)",
}
HIGH, LOW = "high", "low"
SEVERITY = {HIGH: "需研判处理", LOW: "提示性问题,请留意"}
RESCREEN_PER_ROUND = 50
SHOWN_HITS = 5


def check(
    r: redis.Redis,
    platform_id: str,
    article_id: str,
    news: list[dict],
    *,
    draft: str = "",
    version: int = 0,
) -> str:
    """Screen one article's content; raise ``online_content`` for new findings. Returns
    the kind raised, or ''."""
    rules = screening.rules()
    return _raise(r, platform_id, article_id, findings(news, rules), draft, version, rules)


def check_pictures(
    r: redis.Redis, platform_id: str, article_id: str, texts: dict[str, str], **where
) -> str:
    """Screen the text read in a post's pictures (``picture:…`` fields, as drafts name them);
    ``where``: ``draft``, ``version`` and, for a page that reconciliation does not know, its
    ``title`` and ``url``. Returns the kind raised, or ''."""
    rules = screening.rules()
    found = screening.screen(texts, rules=rules).hits if texts else ()
    hits = {hit for hit in found if hit.verdict in ALERTED}
    shown = {k: where[k] for k in ("title", "url") if where.get(k)}
    draft, version = where.get("draft", ""), int(where.get("version") or 0)
    return _raise(r, platform_id, article_id, hits, draft, version, None, shown)


def _raise(r, platform_id, article_id, found, draft, version, rules, shown=None) -> str:
    """One alert per article and set of new findings; ``rules`` marks the article screened
    with them (the text of pictures leaves that mark alone)."""
    seen = _approved_terms(r, draft, version)
    hits = {hit for hit in found if (hit.category, hit.term) not in seen}
    claim = keys.monitoring_claim(f"online_content:{platform_id}:{article_id}:{_digest(hits)}")
    known_key = keys.online_articles(platform_id)

    def change(tx: Tx) -> str:
        known = json.loads(tx.read.hget(known_key, article_id) or "{}")
        fresh = bool(hits) and not tx.read.exists(claim)
        if rules is not None:
            screened = {**known, "screened": rules.version}
            tx.write.hset(known_key, article_id, json.dumps(screened, ensure_ascii=False))
        if not fresh:
            return ""
        known = {**known, **(shown or {})}
        tx.write.set(claim, timestamp())
        detail = _detail(article_id, known, hits)
        audit.append(
            tx,
            ACTOR,
            "monitoring.online_content",
            platform=platform_id,
            draft=draft,
            detail=detail,
        )
        alerts.queue_in(
            tx,
            "online_content",
            _message(platform_id, known, hits),
            platform=platform_id,
            draft=draft,
            detail=detail,
        )
        return "online_content"

    return atomically(r, [claim, known_key], change)


def findings(news: list[dict], rules) -> set[Hit]:
    """The hits, of an alerted verdict, in every article of the publication."""
    found: set[Hit] = set()
    for item in news:
        fields = {name: str(item.get(name) or "") for name in ("title", "author", "digest")}
        fields["content_html"] = str(item.get("content") or "")
        result = screening.screen(fields, rules=rules)
        found |= {hit for hit in result.hits if hit.verdict in ALERTED}
    return found


def _approved_terms(r: redis.Redis, draft: str, version: int) -> set[tuple[str, str]]:
    """What the approved version's own screening showed its reviewers (category, word)."""
    stored = screening.stored(r, draft, version) if draft else None
    return {(hit.category, hit.term) for hit in stored.hits} if stored else set()


def _digest(hits: set[Hit]) -> str:
    """The same findings on the same article raise one alert, whatever the round."""
    names = sorted(f"{h.category}:{h.term}" for h in hits)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def _ordered(hits: set[Hit]) -> list[Hit]:
    return sorted(hits, key=lambda h: (h.category, h.field, h.start))


def severity(hits: set[Hit]) -> str:
    """``low`` when every finding only warns; anything stronger is ``high``."""
    return LOW if all(hit.verdict == screening.WARN for hit in hits) else HIGH


def _detail(article_id: str, known: dict, hits: set[Hit]) -> dict:
    ordered = _ordered(hits)
    return {
        "article_id": article_id,
        "severity": severity(hits),
        "title": known.get("title", ""),
        "url": known.get("url", ""),
        "categories": sorted({h.category_zh for h in ordered}),
        "words": list(dict.fromkeys(h.shown for h in ordered)),
        "places": [f"{h.shown}:{h.where_zh}" for h in ordered],
    }


def _message(platform_id: str, known: dict, hits: set[Hit]) -> str:
    ordered = _ordered(hits)
    shown = "、".join(f"{h.category_zh}{h.shown}({h.where_zh})" for h in ordered[:SHOWN_HITS])
    more = f" 等 {len(ordered)} 处" if len(ordered) > SHOWN_HITS else ""
    rules = ";".join(sorted({ALERTED[h.verdict] for h in ordered}))
    level = SEVERITY[severity(hits)]
    return (
        f"平台 {platform_id} 上已发布的文章《{known.get('title', '')}》发现问题内容({level}):"
        f"{shown}{more}。\n{known.get('url', '')}\n依据 {rules}。请党委宣传部研判处理"
        "(如需下架,回复「下架 A编号 原因」)。"
    )


def stale(r: redis.Redis, platform_id: str, limit: int = RESCREEN_PER_ROUND) -> list[str]:
    """Articles online not yet screened with the current lexicons (taken-down ones aside)."""
    version = screening.rules().version
    found = []
    for article_id, raw in sorted(decode(r.hgetall(keys.online_articles(platform_id))).items()):
        known = json.loads(raw)
        if known.get("screened") != version and not known.get("taken_down_at"):
            if not known.get("gone_at"):
                found.append(article_id)
        if len(found) >= limit:
            break
    return found


def gone(r: redis.Redis, platform_id: str, article_id: str) -> None:
    """An article WeChat no longer has (deleted in the back office): not screened again."""
    key = keys.online_articles(platform_id)

    def change(tx: Tx) -> None:
        known = json.loads(tx.read.hget(key, article_id) or "{}")
        tx.write.hset(key, article_id, json.dumps({**known, "gone_at": timestamp()}))

    atomically(r, [key], change)
