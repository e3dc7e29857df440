"""Screening text: every category, evasion, whitelists, positions, checksums, bad input."""

import time

import opencc
import pytest

from app import screening
from app.core.errors import InvalidInput
from app.screening import detectors

ZERO_WIDTH = "\u200b"
S2T = opencc.OpenCC("s2t")

# One sample term per lexicon category, as written in config/screening.
TERMS = {
    "anti_constitution": "推翻宪法",
    "national_security": "颠覆国家政权",
    "national_honour": "卖国求荣",
    "ethnic_hatred": "煽动民族仇恨",
    "cult_superstition": "算命改运",
    "rumour": "转发此消息可免灾",
    "obscenity_violence": "网络赌博",
    "public_morality": "校园裸贷",
    "defamation": "无耻败类",
    "other_prohibited": "代写论文",
    "advertising": "限时优惠",
    "advertising_signal": "加微信",
    "entertainment": "娱乐圈",
    "major_event": "领导班子调整",
    "emergency": "实验室爆炸",
    "sensitive_issue": "集体维权",
    "personal_data": "家庭住址",
    "credentials": "后台账号密码",
}
EXPECTED_VERDICT = {c: screening.CATEGORIES[c].default for c in TERMS}


def variants(term: str) -> dict[str, str]:
    """The ways an author might disguise a term: each must still be found."""
    return {
        "plain": term,
        "spaces": " ".join(term),
        "full-width punctuation": "．".join(term),
        "ideographic space": "\u3000".join(term),
        "zero-width": ZERO_WIDTH.join(term),
        "traditional": S2T.convert(term),
        "traditional and starred": "*".join(S2T.convert(term)),
    }


def test_every_category_has_an_id_and_names_in_chinese_and_english():
    """Art. 10's ten categories, art. 9's three, art. 11's three, personal data and credentials."""
    assert set(TERMS) == set(screening.CATEGORIES)
    assert len([c for c in screening.CATEGORIES.values() if c.article.startswith("第十条第")]) == 11
    for category in screening.CATEGORIES.values():
        assert category.name_zh and category.name_en and category.article


@pytest.mark.parametrize("category", sorted(TERMS))
@pytest.mark.parametrize(
    "variant",
    ["plain", "spaces", "full-width punctuation", "ideographic space", "zero-width"]
    + ["traditional", "traditional and starred"],
)
def test_each_category_is_found_through_evasion(category, variant):
    """Spaces, full-width punctuation, zero-width and traditional characters do not hide a term."""
    written = variants(TERMS[category])[variant]
    text = f"各位同学:{written}。谢谢"
    found = screening.screen_text(text)
    hits = [h for h in found.hits if h.category == category and not h.pattern]
    assert hits, (category, variant, found.hits)
    assert text[hits[0].start : hits[0].end] == written
    assert hits[0].verdict == EXPECTED_VERDICT[category]
    assert hits[0].term == TERMS[category]


def test_traditional_variants_really_differ():
    """The traditional variants above are real conversions, not the same text twice."""
    changed = [t for t in TERMS.values() if S2T.convert(t) != t]
    assert len(changed) == len(TERMS) - 2  # 家庭住址 and 加微信 are written the same way


def test_full_width_latin_and_case_are_folded():
    """Ｋ粉 and k粉, ＶＸ and vx are the same term."""
    for text in ("有人卖Ｋ粉", "有人卖k 粉", "请加ＶＸ详谈", "请加 V x 详谈"):
        assert screening.screen_text(text).hits, text


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("学校开展远离赌博主题教育", False),
        ("学校开展远 离 賭 博主题教育", False),
        ("宿舍里有人赌博", True),
        ("我们反邪教,也要防范邪教", False),
        ("他加入了邪教组织", True),
        ("坚决反对台独", False),
        ("支持台独", True),
        ("举行消防演练,模拟火灾逃生演练", False),
        ("宿舍发生火灾", True),
        ("本平台独立运营,香港独特的风景", False),
        ("以考查取代考试", False),
        ("请在学校官网上访问", False),
        ("组织集体上访", True),
        ("关于上访问题的通报", True),
        ("宣扬香港独立", True),
    ],
)
def test_whitelisted_phrases_cancel_the_terms_inside_them(text, hit):
    """A term inside an allowed phrase of its category is not a hit, whatever its spelling."""
    assert bool(screening.screen_text(text).hits) is hit


@pytest.mark.parametrize(
    ("text", "hit"),
    [("参加Visual Studio培训", False), ("请加V详谈", True), ("请加 v 详谈", True)],
)
def test_latin_terms_do_not_match_inside_words(text, hit):
    """加v is a call to add a WeChat contact, not the start of 参加Visual."""
    assert bool(screening.screen_text(text).hits) is hit


def test_whitelist_covers_pattern_hits_too():
    """The public number listed in personal_data.allow.txt is not reported, other numbers are."""
    found = screening.screen_text("办公电话 138 0000 0000,李老师 13912345678")
    phones = [h for h in found.hits if h.term == "手机号"]
    assert [h.excerpt for h in phones] == ["139******78"]


def test_positions_point_into_the_original_text():
    """Each hit's offsets select exactly the disguised words in the text the author wrote."""
    text = "开头ＡＢＣ,全角。接着是賭\u200b博,然后 推 翻 憲 法!结尾"
    found = screening.screen_text(text)
    shown = sorted(text[h.start : h.end] for h in found.hits)
    assert shown == ["推 翻 憲 法", "賭\u200b博"]
    pieces = screening.segments(text, found.hits)
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, hits in pieces if hits] == ["賭\u200b博", "推 翻 憲 法"]


def test_article_html_text_links_and_alt_are_screened_at_their_source_offsets():
    """Text across tags, link targets and image alt text are hits at their place in the HTML."""
    html = (
        '<p>校园<b>赌</b>博调查</p><script>var a="代写论文"</script>'
        '<a href="http://buy.example.com/x?a=1&amp;b=2">看这里</a>'
        '<img alt="娱乐圈新闻" src="https://mp.weixin.qq.com/a.png"><p class="x'
    )
    found = screening.screen({"title": "标题", "content_html": html})
    by_part = {(h.category, h.part): html[h.start : h.end] for h in found.hits}
    assert by_part[("obscenity_violence", "text")] == "赌</b>博"
    assert by_part[("advertising_signal", "link")] == "http://buy.example.com/x?a=1&amp;b=2"
    assert by_part[("entertainment", "alt")] == "娱乐圈"
    assert not [h for h in found.hits if h.category == "other_prohibited"]  # script is not shown


def test_character_references_are_decoded_and_mapped_to_their_source():
    """赌&#21338; is 赌博 to a reader; the hit covers the reference in the source."""
    html = "<p>有人赌&#21338;,还有&lt;b&gt;</p>"
    [hit] = screening.screen({"content_html": html}).hits
    assert html[hit.start : hit.end] == "赌&#21338;"


def test_image_fields_caption_and_link():
    found = screening.screen({"image_url": "http://shop.example.com/a.png", "caption": "赌博"})
    assert {(h.field, h.part, h.category) for h in found.hits} == {
        ("image_url", "link", "advertising_signal"),
        ("caption", "text", "obscenity_violence"),
    }


def test_title_and_digest_are_screened_as_their_own_fields():
    found = screening.screen(
        {"title": "限时优惠", "digest": "转发此消息可免灾", "content_html": "<p>正文</p>"}
    )
    assert {(h.field, h.category) for h in found.hits} == {
        ("title", "advertising"),
        ("digest", "rumour"),
    }


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("身份证号11010519491231002X", "身份证号"),
        ("身份证 110105 19491231 002x", "身份证号"),
        ("卡号 4111 1111 1111 1111", "银行卡号"),
        ("卡号6222021234567894", "银行卡号"),
        ("卡号6222021234567895", None),
        ("电话:138-0013-8000", "手机号"),
        ("手机+86 139 1234 5678", "手机号"),
        ("全角１３９１２３４５６７８", "手机号"),
        ("身份证号110105194912310021", None),
        ("卡号 4111 1111 1111 1112", None),
        ("学号 2026001234567", None),
    ],
)
def test_personal_data_needs_a_valid_checksum(text, label):
    """ID-card numbers need their GB 11643 check digit, bank cards Luhn; phones their shape."""
    labels = {h.term for h in screening.screen_text(text).hits if h.category == "personal_data"}
    assert labels == ({label} if label else set())


def test_checksum_functions():
    assert detectors.id_card_valid("11010519491231002X".lower())
    assert not detectors.id_card_valid("110105194912310021")
    assert detectors.luhn_valid("4111111111111111")
    assert not detectors.luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("AppSecret 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
        ("后台密码:Qianfa2026!", "Qianfa2026!"),
        ("token=abcDEF123456", "abcDEF123456"),
        (
            "EncodingAESKey abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ),
        ("后台账号密码都在群里", ""),
    ],
)
def test_leaked_credentials_block_and_are_never_echoed(text, secret):
    """Art. 16: something that looks like a secret blocks the draft and is not repeated back."""
    found = screening.screen_text(text)
    assert found.verdict == screening.BLOCK
    assert all(h.excerpt == "" for h in found.hits if h.category == "credentials")
    shown = " ".join([found.summary_zh(), *(h.excerpt for h in found.hits)])
    assert all(secret[i : i + 6].lower() not in shown.lower() for i in range(len(secret) - 5))


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("详情见 http://shop.example.com/sale", "外部链接"),
        ("访问 www.taobao.com 购买", "外部链接"),
        ("微信号:abc_123456", "微信号"),
        ("加 微 信报名", "加微信"),
        ("QQ:12345678", "QQ 号"),
        ("售价¥99,原价 199 元", "价格或折扣"),
        ("全场8折", "价格或折扣"),
        ("咨询电话 13912345678", "联系电话"),
        ("热线 400-123-4567", "服务热线"),
    ],
)
def test_advertising_signals(text, label):
    """Art. 9: links outside the allowed domains, contact lines, prices and discounts warn."""
    found = screening.screen_text(text)
    hits = [h for h in found.hits if h.category == "advertising_signal"]
    assert label in {h.term for h in hits}, hits
    assert {h.verdict for h in hits} == {screening.WARN}
    assert found.verdict == screening.WARN


@pytest.mark.parametrize(
    "text",
    ["扫 码 领 取资料,名额有限", "本店全场包邮,欢迎选购", "优惠券已到账,点击领取", "海外代购正品"],
)
def test_explicit_advertising_terms_block(text):
    """Art. 9 forbids commercial advertising outright: its explicit terms block by default."""
    found = screening.screen_text(text)
    assert found.verdict == screening.BLOCK
    assert {h.category for h in found.hits_with(screening.BLOCK)} == {"advertising"}


def test_allowed_domains_are_not_ads():
    text = "原文 https://mp.weixin.qq.com/s/abc 和 https://www.example.edu.cn/news"
    assert not screening.screen_text(text).hits


def test_summary_is_one_chinese_line_with_categories_and_words():
    found = screening.screen_text("有人赌博,还发了娱乐圈八卦")
    summary = found.summary_zh()
    assert "\n" not in summary and summary.startswith("内容检查已拦截")
    assert "「赌博」" in summary and "娱乐性信息" in summary
    assert screening.screen_text("校运会开幕").summary_zh() == "内容检查未发现问题"


def test_escalating_a_category_outside_art11_counts_as_a_sensitive_issue():
    hit = screening.Hit("rumour", "谣言", "text", 0, 2, screening.ESCALATE)
    assert screening.Screening("v", hits=(hit,)).flags == {"sensitive_issue"}


def test_places_are_told_as_readers_count_and_the_html_offset_is_kept():
    """Authors are told 标题, 摘要, 第 N 段; the source offset stays for highlighting."""
    html = "<p>开幕式</p>\n<p>闭幕式</p><p>有人赌博</p>"
    found = screening.screen({"title": "赌博", "digest": "赌博", "content_html": html})
    places = {hit.field: hit.where_zh for hit in found.hits}
    assert places == {"title": "标题", "digest": "摘要第 1 段", "content_html": "正文第 3 段"}
    [hit] = [hit for hit in found.hits if hit.field == "content_html"]
    assert html[hit.start : hit.end] == "赌博"


def test_a_place_in_plain_text_counts_non_empty_lines():
    [hit] = screening.screen_text("第一段\n\n第二段\n有人赌博").hits
    assert hit.where_zh == "正文第 3 段"


def test_a_link_in_html_is_told_as_the_link_of_its_paragraph():
    html = '<p>开幕</p><p><a href="https://shop.example.com">购买</a></p>'
    [hit] = screening.screen({"content_html": html}).hits
    assert hit.where_zh == "正文第 2 段的链接地址"


@pytest.mark.parametrize(
    "url",
    [
        "https://mmbiz.qpic.cn/mmbiz_jpg/abc/0?wx_fmt=jpeg",
        "http://wx.qlogo.cn/a/132",
        "https://mmbiz.qlogo.cn/mmbiz_png/abc/0",
        "https://res.wx.qq.com/mmbizappmsg/zh_CN/htmledition/js/images/icon/common/emotion_panel.png",
    ],
)
def test_wechats_own_media_hosts_are_never_an_advertising_link(url):
    html = f'<p><img src="{url}" alt=""></p>'
    found = screening.screen({"content_html": html, "cover_image": url, "image_url": url})
    assert found.hits == ()
    assert screening.screen_text(f"看这里 {url}").hits == ()


def test_other_hosts_are_still_advertising_links():
    found = screening.screen({"cover_image": "https://mmbiz.qpic.cn.ads.example.com/a.jpg"})
    assert [hit.term for hit in found.hits] == ["外部链接"]


def test_result_round_trips_through_its_dict():
    found = screening.screen_text("有人赌博,电话 13912345678")
    assert screening.Screening.from_dict(found.to_dict()) == found


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "。,!"])
def test_empty_text_passes(text):
    found = screening.screen_text(text)
    assert (found.verdict, found.hits) == (screening.PASS, ())


def test_invalid_utf8_is_noted_and_the_rest_still_screened():
    found = screening.screen_text(b"\xff\xfe\xc3 some bytes \xe8\xb5\x8c\xe5\x8d\x9a")
    assert found.notes and "UTF-8" in found.notes[0]
    assert [h.term for h in found.hits] == ["赌博"]


def test_lone_surrogates_do_not_crash():
    """A broken character is noted and, like any symbol, does not split a term."""
    found = screening.screen_text("赌\ud800博 与 赌博")
    assert found.notes and [h.term for h in found.hits] == ["赌博", "赌博"]


def test_non_text_values_are_refused_clearly():
    with pytest.raises(InvalidInput, match="必须是文字"):
        screening.screen({"text": 42})


def test_too_much_text_is_refused_clearly():
    with pytest.raises(InvalidInput, match="内容过大"):
        screening.screen_text("字" * (screening.MAX_CHARS + 1))


@pytest.mark.parametrize(
    "text",
    [
        "1" * 300_000,
        "a." * 150_000,
        "<" * 300_000,
        "<p class='" * 30_000,
        "<script>" * 30_000,
        "<!--" * 50_000,
        "&#" * 100_000 + "&amp;" * 10_000,
        "微信号:" * 50_000,
        "赌博" * 100_000,
    ],
)
def test_pathological_input_finishes(text):
    """Megabyte-scale adversarial input is screened in one pass and its hits are capped."""
    found = screening.screen({"content_html": text, "text": text})
    assert len(found.hits) <= screening.MAX_HITS
    assert found.truncated == (sum(found.counts.values()) > screening.MAX_HITS)


def _best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_screening_time_grows_linearly():
    """A ten times longer text takes no more than about ten times as long (generous bound)."""
    unit = "校园新闻:同学们积极参加活动,有人赌 博,电话 13912345678,链接 www.example.com。" * 40
    screening.screen_text(unit)  # warm the automaton and the fold table
    short = _best_of(5, lambda: screening.screen_text(unit))
    long = _best_of(3, lambda: screening.screen_text(unit * 10))
    assert long / short < 25, (short, long)


def test_runs_join_adjacent_hits_into_one_highlight():
    found = screening.screen_text("报名请加微信 abc123,名额有限")
    pieces = screening.runs("报名请加微信 abc123,名额有限", found.hits, field="text")
    assert "".join(piece for piece, _ in pieces) == "报名请加微信 abc123,名额有限"
    assert [hit for _, hit in pieces] == [False, True, False]
