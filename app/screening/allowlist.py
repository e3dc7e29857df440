"""Whitelisting a phrase (加入白名单): a lexicon term inside it is no longer a hit.

The release of a blocked draft (``app.drafts.release``) whitelists the words around each
released hit: ``phrase_around`` derives the phrase, ``check`` refuses one that would switch
the term off everywhere, and ``allow`` adds it through ``lexicon_store.edit`` (audited,
versioned), which changes the lexicon version so every process reloads the lists.
"""

import redis

from app.core import audit, validate
from app.core.errors import InvalidInput
from app.registry import access
from app.screening import lexicon_store, lexicons
from app.screening.categories import CATEGORIES
from app.screening.normalize import normalize_term

# Characters of context kept on each side of a hit: enough to tell 远离K粉 from 出售K粉,
# few enough that the phrase recurs in the next campaign.
CONTEXT = 4


def phrase_around(text: str, start: int, end: int, term: str) -> str:
    """The term with up to ``CONTEXT`` letters or digits either side, within its clause.

    Punctuation, spaces and markup (``<``, ``>``, ``&``) end the context, so the phrase is
    words a reader sees together; the term itself is written as the lexicon has it.
    """
    left = start
    while left > 0 and start - left < CONTEXT and text[left - 1].isalnum():
        left -= 1
    right = end
    while right < len(text) and right - end < CONTEXT and text[right].isalnum():
        right += 1
    return text[left:start] + term + text[end:right]


def check(category: str, phrase: str, term: str = "") -> str:
    """The phrase, cleaned, if it can be whitelisted (longer than the ``term`` it covers)."""
    if category not in CATEGORIES:
        raise InvalidInput(f"没有「{category}」这个类别")
    phrase = validate.text(phrase, "白名单短语", max_len=lexicons.MAX_TERM)
    key = normalize_term(phrase)
    if not key:
        raise InvalidInput(f"「{phrase}」只有标点或空白,不能加入白名单")
    if term and len(key) <= len(normalize_term(term)):
        raise InvalidInput(
            f"「{term}」前后没有可一并加入白名单的文字:只加这个词本身会让它处处不再检查;"
            "请不选加入白名单再放行,或在词库中添加更长的短语"
        )
    return phrase


def allow(r: redis.Redis, actor: audit.Actor, category: str, phrase: str) -> str:
    """Add ``phrase`` to the category's whitelist (once); return the new lexicon version.

    The write goes through ``lexicon_store.edit``, the one way a list changes, so the
    addition is audited (``lexicon.edit``) and kept in the version history like any other.
    """
    access.authorize(r, actor, (access.PROPAGANDA,), "修改词库白名单")
    phrase = check(category, phrase)
    rules = lexicons.load(lexicon_store.directory())
    allowed = {normalize_term(t) for t in rules.terms(category, allow=True)}
    if normalize_term(phrase) in allowed:
        return rules.version
    target = lexicon_store.target(category, allow=True)
    return lexicon_store.edit(r, actor, target, add=[phrase]).after
