"""Pattern checks that a word list cannot express: personal data, secrets, ads' contact lines.

Each runs on folded text (lower case, half-width digits, same length as the original),
so positions need no mapping. Every expression is linear: no nested open-ended repeats.
"""

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

PHONE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
ID_CARD = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}[ -]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12][0-9]|3[01])[ -]?[0-9]{3}[0-9x](?![0-9a-z])"
)
BANK_CARD = re.compile(r"(?<![0-9])[3-6][0-9]{3}(?:[ -]?[0-9]{4}){3}(?:[ -]?[0-9]{1,3})?(?![0-9])")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10x98765432"

APP_SECRET = re.compile(r"(?<![0-9a-z])[0-9a-f]{32}(?![0-9a-z])")
AES_KEY = re.compile(r"(?<![0-9a-z])[0-9a-z]{43}(?![0-9a-z])")
SECRET_FIELD = re.compile(
    r"(?:密码|口令|密钥|password|passwd|pwd|app ?secret|secret|token|aeskey|access_token)"
    r" {0,3}(?:[:=]|是|为) {0,3}([!-~]{6,64})"
)

WECHAT_ID = re.compile(
    r"(?:微信号?|wx|vx|v信|威信|薇信|weixin|wechat)(?:号)? {0,3}[:=]? {0,3}([a-z][-_a-z0-9]{5,19})"
    r"(?![-_a-z0-9])"
)
QQ_ID = re.compile(r"(?:qq|扣扣|企鹅)(?:号|群)? {0,3}[:=]? {0,3}([1-9][0-9]{4,11})(?![0-9])")
HOTLINE = re.compile(r"(?<![0-9])[48]00[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])")
CALL_BEFORE_PHONE = re.compile(r"(?:电话|热线|咨询|致电|拨打|订购|预订|tel)[^0-9\n]{0,6}$")
PRICE = re.compile(
    r"[¥$] ?[0-9]{1,7}(?:\.[0-9]{1,2})?"
    r"|(?<![0-9.])[0-9]{1,7}(?:\.[0-9]{1,2})? ?(?:元|块钱|rmb)"
    r"|(?<![0-9.])[1-9](?:\.[0-9])? ?折(?!磨|腾|叠|返|断|服|射|线)"
)
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'\u3000-\u303f\uff01-\uff5e]{1,2000}"
    r"|(?<![-a-z0-9@.])(?:[a-z0-9][-a-z0-9]{0,62}\.){1,8}"
    r"(?:com|cn|net|org|cc|top|xyz|vip|shop|info|io|me|tv|club|site|online|store|link)"
    r"(?![-a-z0-9])(?:/[!-~]{0,2000})?"
)


# Every pattern needs ASCII letters or digits (or a currency sign); Chinese prose mostly has
# none, so the patterns run on the few islands that do, with room for words like 微信号/元.
ISLAND = re.compile(r"[0-9a-z$¥+][\x20-\x7e¥]*")
SHORT_NUMBER = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,2})? ?")
PRICE_TAIL = re.compile(r"元|块钱|折(?!磨|腾|叠|返|断|服|射|线)")
DISCOUNT = re.compile(r"[1-9](?:\.[0-9])?")
BEFORE, AFTER = 14, 4
GAP = "\n\n"


@dataclass(frozen=True)
class Found:
    category: str
    label: str
    start: int
    end: int


def personal_data(text: str) -> Iterator[Found]:
    """Mobile numbers, ID-card numbers with a valid check digit, bank cards that pass Luhn."""
    ids = []
    for match in ID_CARD.finditer(text):
        if id_card_valid(match.group()):
            ids.append(match.span())
            yield Found("personal_data", "身份证号", *match.span())
    for match in BANK_CARD.finditer(text):
        inside_id = any(s <= match.start() and match.end() <= e for s, e in ids)
        if not inside_id and luhn_valid(match.group()):
            yield Found("personal_data", "银行卡号", *match.span())
    for match in PHONE.finditer(text):
        yield Found("personal_data", "手机号", *match.span())


def digits(raw: str) -> str:
    return "".join(c for c in raw if c.isdigit() or c == "x")


def id_card_valid(raw: str) -> bool:
    """GB 11643: the 18th character is a weighted sum of the first 17, modulo 11."""
    number = digits(raw)
    if len(number) != 18 or "x" in number[:17]:
        return False
    total = sum(int(d) * w for d, w in zip(number, ID_WEIGHTS, strict=False))
    return ID_CHECK[total % 11] == number[17]


def luhn_valid(raw: str) -> bool:
    number = digits(raw)
    if not 16 <= len(number) <= 19 or "x" in number:
        return False
    total = 0
    for i, d in enumerate(reversed(number)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def credentials(text: str) -> Iterator[Found]:
    """What looks like an AppSecret, an EncodingAESKey, or a password or token given in full."""
    for match in APP_SECRET.finditer(text):
        yield Found("credentials", "疑似 AppSecret", *match.span())
    for match in AES_KEY.finditer(text):
        if _mixed(match.group()):
            yield Found("credentials", "疑似 EncodingAESKey", *match.span())
    for match in SECRET_FIELD.finditer(text):
        yield Found("credentials", "密码或令牌", *match.span())


def _mixed(value: str) -> bool:
    """Random keys mix letters and digits; a long word or number does not."""
    return any(c.isdigit() for c in value) and sum(c.isalpha() for c in value) >= 8


# WeChat's own media hosts: every picture sent in a chat or uploaded to an account lives
# there (and res.wx.qq.com serves its page assets), so a link to them says nothing about ads.
WECHAT_MEDIA_HOSTS = (
    "mmbiz.qpic.cn",
    "mmbiz.qlogo.cn",
    "wx.qlogo.cn",
    "thirdwx.qlogo.cn",
    "res.wx.qq.com",
)
# Pattern findings are signals of an ad, not an ad: they warn (``advertising`` terms block).
SIGNAL = "advertising_signal"
# Loopback reaches no reader, so it advertises nothing: the sandbox serves pictures there.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def advertising(text: str, allowed_domains: tuple[str, ...]) -> Iterator[Found]:
    """Contact lines and prices of ads (art. 9); links outside the allowed domains."""
    for pattern, label in ((WECHAT_ID, "微信号"), (QQ_ID, "QQ 号"), (HOTLINE, "服务热线")):
        for match in pattern.finditer(text):
            yield Found(SIGNAL, label, *match.span())
    for match in PRICE.finditer(text):
        yield Found(SIGNAL, "价格或折扣", *match.span())
    for match in PHONE.finditer(text):
        if CALL_BEFORE_PHONE.search(text, max(0, match.start() - 12), match.start()):
            yield Found(SIGNAL, "联系电话", *match.span())
    for match in URL.finditer(text):
        if not domain_allowed(match.group(), allowed_domains + WECHAT_MEDIA_HOSTS + LOOPBACK_HOSTS):
            yield Found(SIGNAL, "外部链接", *match.span())


def domain_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    if "://" not in url:
        url = "http://" + url
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


def find_all(text: str, allowed_domains: tuple[str, ...]) -> Iterator[Found]:
    """Every pattern check on ``text``, run on its ASCII islands only, positions in ``text``."""
    windows, numbers = _windows(text)
    yield from _prices(text, numbers)
    if not windows:
        return
    reduced = GAP.join(text[start:end] for start, end in windows)
    starts, at = [], 0
    for start, end in windows:
        starts.append((at, start))
        at += end - start + len(GAP)
    for found in _checks(reduced, allowed_domains):
        index = bisect_right(starts, (found.start, len(text))) - 1
        shift = starts[index][1] - starts[index][0]
        yield Found(found.category, found.label, found.start + shift, found.end + shift)


def _windows(text: str) -> tuple[list[tuple[int, int]], list[re.Match]]:
    """Windows around islands worth every check, and the short numbers (years, prices) apart.

    A short number can only be a price, so it skips the other checks: most digits in
    Chinese prose are years, dates and counts.
    """
    windows: list[list[int]] = []
    numbers = []
    for island in ISLAND.finditer(text):
        if SHORT_NUMBER.fullmatch(island.group()):
            numbers.append(island)
            continue
        start, end = max(0, island.start() - BEFORE), min(len(text), island.end() + AFTER)
        if windows and start <= windows[-1][1] + len(GAP):
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return [(start, end) for start, end in windows], numbers


def _prices(text: str, numbers: list[re.Match]) -> Iterator[Found]:
    for number in numbers:
        tail = PRICE_TAIL.match(text, number.end())
        if tail and (tail.group() != "折" or DISCOUNT.fullmatch(number.group().strip())):
            yield Found(SIGNAL, "价格或折扣", number.start(), tail.end())


def _checks(text: str, allowed_domains: tuple[str, ...]) -> Iterator[Found]:
    yield from personal_data(text)
    yield from credentials(text)
    yield from advertising(text, allowed_domains)
