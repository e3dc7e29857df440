"""Checking a page published by hand: a 20,000-character article in a CMS page.

Prints milliseconds per page for extracting the main text (``pages.extract``) and for the
whole check (extract and compare with the approved version, ``pages.compare``), beside a
baseline measured in the same run: the bare parse of the same page by Python's
``html.parser`` with no handlers, which no extractor on that parser can beat.
Run with ``make bench`` or ``.venv/bin/python bench/page_compare.py``.
"""

import random
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.publishing import pages  # noqa: E402
from bench.benchkit import machine  # noqa: E402

ARTICLE = 20_000
RUNS = 30


def article(rng: random.Random) -> str:
    pool = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    paragraphs, size = [], 0
    while size < ARTICLE:
        sentences = [
            "".join(rng.choice(pool) for _ in range(rng.randint(12, 40))) + "。"
            for _ in range(rng.randint(2, 5))
        ]
        paragraphs.append("<p>" + "".join(sentences) + "</p>")
        size += sum(len(s) for s in sentences)
    return "".join(paragraphs)


def page(body: str) -> str:
    nav = "".join(f'<li><a href="/c{i}">栏目{i}</a></li>' for i in range(30))
    return (
        "<html><head><title>标题 - 学院新闻网</title><script>var a=1;</script></head><body>"
        f'<div class="header"><ul class="nav">{nav}</ul></div>'
        '<div class="main"><h1>标题</h1><p class="arti_metas">发布时间:2026-05-20</p>'
        f'<div class="v_news_content">{body}</div></div>'
        '<div class="footer">版权所有 © 学院 地址:大学路 1 号</div></body></html>'
    )


def timed(fn, runs: int = RUNS) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - started) / runs * 1000


def main() -> None:
    body = article(random.Random(16))
    html = page(body)
    approved = pages.extract(body, whole=True).text

    def bare():
        parser = HTMLParser()
        parser.feed(html)
        parser.close()

    baseline = timed(bare)
    extract = timed(lambda: pages.extract(html))
    check = timed(lambda: pages.compare(approved, pages.extract(html), title="标题"))
    assert pages.compare(approved, pages.extract(html), title="标题").matches
    print(machine())
    print(f"page check, {len(approved)}-character article in a {len(html)}-character page:")
    print(f"  baseline html.parser bare parse   {baseline:7.2f} ms")
    print(f"  extract main text                 {extract:7.2f} ms  ({extract / baseline:.1f}x)")
    print(f"  extract + compare (whole check)   {check:7.2f} ms  ({check / baseline:.1f}x)")


if __name__ == "__main__":
    main()
