"""The difference between two versions of a draft, as runs of kept, removed and added text."""

import difflib
import re

from app.drafts import lifecycle

TAG_BREAK = re.compile(r"(?<=>)")


def text_of(version: lifecycle.Version) -> str:
    """What a reviewer compares: the text, the caption, or the article's fields and HTML."""
    content = version.content
    if version.kind == lifecycle.TEXT:
        return content.get("text", "")
    if version.kind == lifecycle.IMAGE:
        return f"{content.get('image_url', '')}\n{content.get('caption', '')}"
    head = [f"{name}: {content.get(name, '')}" for name in ("title", "author", "digest")]
    body = "\n".join(part for part in TAG_BREAK.split(content.get("content_html", "")) if part)
    return "\n".join([*head, body])


def inline(old: str, new: str) -> list[tuple[str, str]]:
    """Runs of ``("same" | "del" | "ins", text)`` turning ``old`` into ``new``, by character."""
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", old[a1:a2]))
            continue
        if a2 > a1:
            runs.append(("del", old[a1:a2]))
        if b2 > b1:
            runs.append(("ins", new[b1:b2]))
    return runs
