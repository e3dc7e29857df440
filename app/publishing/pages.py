"""A page published by hand: fetched through the egress guard, its main text, and whether it
says what was approved.

Extraction is Python's own ``html.parser`` with a few rules as data (what is page frame,
what holds an article), not a general-purpose extractor such as trafilatura or
readability-lxml: those need lxml (a C parser, for hostile pages) and guess what an
unknown page is about, while here the approved text is known and is the yardstick. The
page's text is cut into sentences and lined up with the approved version's sentences
(``difflib``), so the verdict says which sentences differ, not just a score.

The verdict (``Comparison.matches``), after normalisation (NFKC, lower case, no spaces,
punctuation or symbols, known metadata lines such as 发布时间/来源 dropped):
- every approved sentence is on the page, in order (none missing, none altered);
- nothing is inserted between the first and the last approved sentence;
- inside the article's container (``CONTENT_NAMES``) nothing may be added at all; on a
  page without a recognisable container, text before or after the article (the page's
  frame that extraction kept) is tolerated up to ``EDGE_TOLERANCE`` of the approved
  text's length, or ``EDGE_MIN`` characters when that is more;
- an article's approved title is in the page's title, its <h1> or its text.
"""

import hashlib
import re
import time
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

from app.core import egress
from app.core.errors import InvalidInput

MAX_PAGE_BYTES = 2 * 1024 * 1024
FETCH_TIMEOUT = (5.0, 15.0)
FETCH_DEADLINE = 30.0
MAX_REDIRECTS = 3
HTML_TYPES = ("text/html", "application/xhtml+xml")
EDGE_TOLERANCE = 0.02  # of the approved text's characters, before and after the article
EDGE_MIN = 20  # characters always tolerated at the edges (a date line, "分享到")
SHOWN = 8  # differing sentences listed in an alert
SHOWN_CHARS = 60

SKIP_TAGS = frozenset(
    "script style noscript template iframe svg canvas button select textarea head".split()
)
FRAME_TAGS = frozenset("nav header footer aside".split())
CONTENT_TAGS = frozenset(("article", "main"))
VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
# class or id words that mark the page's frame, and the article's container, in the markup
# of WeChat articles, common Chinese CMSs (博达 VSB, TRS, WordPress) and Weibo.
FRAME_NAMES = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|menu|footer|foot|header|head|breadcrumbs?|crumbs?|sidebar|"
    r"share|comments?|related|copyright|toolbar|pager|pagination|banner|login)(?:$|[\s_-])",
    re.I,
)
CONTENT_NAMES = re.compile(
    r"rich_media_content|js_content|v_news_content|trs_editor|wp_articlecontent|"
    r"(?:article|post|entry|news|weibo|wb)[-_]?(?:content|text|body|detail)|"
    r"(?:^|\s)(?:content|detail)(?:$|\s)",
    re.I,
)
# Lines a CMS adds around an article: normalised forms are matched, at most this long.
METADATA = re.compile(
    r"^(?:发布时间|发布日期|发表时间|时间|日期|来源|作者|供稿|撰稿|摄影|编辑|责任编辑|审核|"
    r"审稿|点击|点击数|浏览|浏览次数|阅读|阅读量|字号|打印|关闭|分享到)"
)
METADATA_MAX = 60
SENTENCE_END = re.compile(r"(?<=[。!?;!?;…])|\n")
NOISE = re.compile(r"[\W_]+")


class PageUnavailable(InvalidInput):
    """The page cannot be used: refused, unreachable, not HTML, too large or moved away."""

    code = "page_unavailable"


@dataclass(frozen=True)
class PageText:
    title: str
    headings: tuple[str, ...]
    text: str
    framed: bool  # the article's container was found; otherwise the whole page's text
    images: tuple[str, ...] = ()  # the article's <img src>, as written (for the OCR of pictures)


# --- fetching -------------------------------------------------------------------------------


def fetch(url: str, allow: egress.Allow, owns, *, types=HTML_TYPES, max_bytes=MAX_PAGE_BYTES):
    """The page's text and its final URL; every hop must stay where ``owns(url)`` says.

    Redirects are followed by hand so that one leading off the platform's domain is
    refused, not followed.
    """
    for _ in range(MAX_REDIRECTS + 1):
        if not owns(url):
            raise PageUnavailable(f"网址不在平台登记的域名上:{egress.short(url)}")
        location, body = _get(url, allow, types, max_bytes)
        if location is None:
            return body, url
        url = urljoin(url, location)
    raise PageUnavailable(f"重定向超过 {MAX_REDIRECTS} 次:{egress.short(url)}")


def _get(url: str, allow: egress.Allow, types, max_bytes: int) -> tuple[str | None, str]:
    failure = None
    try:
        response = egress.Client(allow).send("GET", url, timeout=FETCH_TIMEOUT)
        with response:
            if response.status_code in egress.REDIRECTS and response.headers.get("Location"):
                return response.headers["Location"], ""
            _check(url, response, types)
            return None, _read(url, response, max_bytes)
    except (egress.Refused, egress.Unresolved) as exc:
        failure = f"无法访问:{exc.message}"
    except requests.Timeout:
        failure = f"访问超时:{egress.short(url)}"
    except requests.RequestException as exc:
        failure = f"无法连接({type(exc).__name__}):{egress.short(url)}"
    raise PageUnavailable(failure)


def _check(url: str, response: requests.Response, types) -> None:
    shown = egress.short(url)
    if response.status_code != 200:
        raise PageUnavailable(f"页面无法打开(HTTP {response.status_code}):{shown}")
    declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if declared not in types:
        raise PageUnavailable(f"不是网页(类型 {declared or '未声明'}):{shown}")


def _read(url: str, response: requests.Response, max_bytes: int) -> str:
    started, data = time.monotonic(), bytearray()
    for chunk in response.iter_content(64 * 1024):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise PageUnavailable(f"页面过大(超过 {max_bytes // 1024} KB):{egress.short(url)}")
        if time.monotonic() - started > FETCH_DEADLINE:
            raise PageUnavailable(f"访问超时:{egress.short(url)}")
    return bytes(data).decode(_charset(response, bytes(data[:2048])), errors="replace")


def _charset(response: requests.Response, head: bytes) -> str:
    declared = requests.utils.get_encoding_from_headers(response.headers)
    found = re.search(rb"""charset=["']?([A-Za-z0-9_-]+)""", head)
    name = (found.group(1).decode() if found else "") or declared or "utf-8"
    name = "utf-8" if name.lower() == "iso-8859-1" and not found else name
    try:
        "".encode(name)
    except LookupError:
        return "utf-8"
    return name


# --- extracting -----------------------------------------------------------------------------


class _Extractor(HTMLParser):
    """One pass over the page: text lines of the frame-free page and of its content containers."""

    def __init__(self, whole: bool):
        super().__init__(convert_charrefs=True)
        self.whole = whole  # the author's own HTML: nothing in it is frame
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, skipped, content)
        self.skip = self.content = 0
        self.lines: list[str] = []
        self.content_lines: list[str] = []
        self.current: list[str] = []
        self.current_content = False
        self.title: list[str] = []
        self.in_title = self.in_h1 = False
        self.headings: list[str] = []
        self.images: list[tuple[str, bool]] = []  # (src, inside a content container)

    def handle_starttag(self, tag, attrs):
        self._break_if(tag)
        if tag == "img" and not self.skip:
            src = dict(attrs).get("data-src") or dict(attrs).get("src")
            if src:
                self.images.append((src.strip(), bool(self.content)))
        if tag in VOID_TAGS:
            return
        names = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        skipped = tag in SKIP_TAGS or (
            not self.whole and (tag in FRAME_TAGS or bool(FRAME_NAMES.search(names)))
        )
        content = not self.whole and (tag in CONTENT_TAGS or bool(CONTENT_NAMES.search(names)))
        self.stack.append((tag, skipped, content))
        self.skip += skipped
        self.content += content
        self.in_title = self.in_title or tag == "title"
        if tag == "h1":
            self.in_h1, self.h1 = True, []

    def handle_endtag(self, tag):
        self._break_if(tag)
        if tag == "title":
            self.in_title = False
        if tag == "h1" and self.in_h1:
            self.in_h1 = False
            self.headings.append("".join(self.h1).strip())
        if not any(open_tag == tag for open_tag, _, _ in self.stack):
            return  # a stray end tag
        while self.stack:
            open_tag, skipped, content = self.stack.pop()
            self.skip -= skipped
            self.content -= content
            if open_tag == tag:
                return

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
            return
        if self.skip:
            return
        if self.in_h1:
            self.h1.append(data)
        if self.content:
            self.current_content = True
        self.current.append(data)

    def _break_if(self, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.flush()

    def flush(self) -> None:
        line = " ".join("".join(self.current).split())
        if line:
            self.lines.append(line)
            if self.current_content:
                self.content_lines.append(line)
        self.current, self.current_content = [], False


def extract(html: str, *, whole: bool = False) -> PageText:
    """The page's main text: its article container's text when it has one, else all of it.

    ``whole`` reads an HTML fragment as it is (the approved version's body).
    """
    parser = _Extractor(whole)
    parser.feed(html)
    parser.close()
    parser.flush()
    framed = bool(parser.content_lines)
    lines = parser.content_lines if framed else parser.lines
    title = " ".join("".join(parser.title).split())
    images = tuple(dict.fromkeys(src for src, inside in parser.images if inside or not framed))
    headings = tuple(h for h in parser.headings if h)
    return PageText(title, headings, "\n".join(lines), framed, images)


# --- comparing ------------------------------------------------------------------------------


def squeeze(text: str) -> str:
    """What is compared: NFKC, lower case, letters and digits only."""
    return NOISE.sub("", unicodedata.normalize("NFKC", text).lower())


def text_hash(page: PageText) -> str:
    """Names a page's main text as compared, so a later edit shows as a new hash."""
    return hashlib.sha256(squeeze(page.text).encode()).hexdigest()


def sentences(text: str) -> list[tuple[str, str]]:
    """(compared form, as written) of each sentence, metadata lines left out."""
    found = []
    for piece in SENTENCE_END.split(text or ""):
        written = " ".join(piece.split())
        compared = squeeze(written)
        if compared and not (len(compared) <= METADATA_MAX and METADATA.match(compared)):
            found.append((compared, written))
    return found


@dataclass(frozen=True)
class Comparison:
    matches: bool
    missing: tuple[str, ...] = ()  # approved sentences not on the page (or altered there)
    added: tuple[str, ...] = ()  # sentences on the page that were not approved
    title_missing: bool = False
    approved_chars: int = 0
    edge_chars: int = 0

    def summary(self) -> str:
        """What differs, in Chinese, for the alert and the reply."""
        parts = []
        if self.title_missing:
            parts.append("标题与审核版本不同")
        if self.missing:
            parts.append(f"审核版本中有 {len(self.missing)} 句在页面上缺失或被改动")
        if self.added:
            parts.append(f"页面上多出 {len(self.added)} 句未经审核的内容")
        return ";".join(parts) or "一致"

    def detail(self) -> dict:
        return {
            "missing": [_cut(s) for s in self.missing[:SHOWN]],
            "added": [_cut(s) for s in self.added[:SHOWN]],
            "title_missing": self.title_missing,
            "missing_count": len(self.missing),
            "added_count": len(self.added),
        }


def _cut(sentence: str) -> str:
    return sentence if len(sentence) <= SHOWN_CHARS else sentence[: SHOWN_CHARS - 1] + "…"


def compare(approved: str, page: PageText, *, title: str = "") -> Comparison:
    """Line the approved sentences up with the page's; see the module's docstring for the rule."""
    want = sentences(approved)
    got = [s for s in sentences(page.text) if not title or s[0] != squeeze(title)]
    matcher = SequenceMatcher(None, [s for s, _ in want], [s for s, _ in got], autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    first = blocks[0].b if blocks else len(got)
    last = blocks[-1].b + blocks[-1].size if blocks else len(got)
    missing, inside = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            missing.extend(written for _, written in want[i1:i2])
        if tag in ("insert", "replace"):
            inside.extend(got[j][1] for j in range(j1, j2) if first <= j < last)
    edges = [written for j, (_, written) in enumerate(got) if j < first or j >= last]
    approved_chars = sum(len(s) for s, _ in want)
    edge_chars = sum(len(squeeze(s)) for s in edges)
    allowed = 0 if page.framed else max(EDGE_MIN, EDGE_TOLERANCE * approved_chars)
    added = inside + (edges if edge_chars > allowed else [])
    title_missing = bool(title) and not _has_title(title, page)
    return Comparison(
        matches=not (missing or added or title_missing),
        missing=tuple(missing),
        added=tuple(added),
        title_missing=title_missing,
        approved_chars=approved_chars,
        edge_chars=edge_chars,
    )


def _has_title(title: str, page: PageText) -> bool:
    wanted = squeeze(title)
    return any(wanted in squeeze(text) for text in (page.title, *page.headings, page.text))
