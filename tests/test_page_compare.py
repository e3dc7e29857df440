"""The comparison of a page published by hand with the approved version (app.publishing.pages),
on pages shaped like real ones: WeChat articles, campus CMSs, a page with no container."""

import pytest

from app.publishing import pages

BODY = (
    "<p>5月20日,计算机学院在图书馆报告厅举办第十届程序设计竞赛。</p>"
    "<p>来自全院的120名同学参加了比赛,比赛持续五个小时。</p>"
    "<p>经过激烈角逐,软件工程专业的三名同学获得一等奖。</p>"
)
APPROVED = pages.extract(BODY, whole=True).text
TITLE = "计算机学院举办程序设计竞赛"

WECHAT = f"""<html><head><title>{TITLE}</title><script>var msg_title = "x";</script></head>
<body><div id="js_article" class="rich_media"><h1 class="rich_media_title" id="activity-name">
{TITLE}</h1><div class="rich_media_meta_list"><span>计算机学院</span><em>2026-05-20 18:00</em></div>
<div class="rich_media_content js_underline_content" id="js_content" style="visibility: hidden;">
<section><span style="font-size:15px">
5月20日，计算机学院在图书馆报告厅举办第十届程序设计竞赛。</span></section>
<section>来自全院的 120 名同学参加了比赛，比赛持续五个小时。</section>
<p>经过激烈角逐，软件工程专业的三名同学获得<strong>一等奖</strong>。</p></div>
<div class="rich_media_tool"><a id="js_view_source">阅读原文</a> 阅读 1024 赞 12 在看 3</div>
</div><div id="js_pc_qr_code">微信扫一扫关注该公众号</div></body></html>"""

CMS = f"""<!DOCTYPE html><html><head><meta charset="gbk"><title>{TITLE}-新闻网</title></head>
<body><div id="header"><div class="logo">某某大学</div><ul id="menu"><li><a href="/">首页</a></li>
<li><a href="/xygk">学院概况</a></li><li><a href="/tzgg">通知公告</a></li></ul></div>
<div class="position">您现在的位置:<a href="/">首页</a>&gt;&gt;学院新闻</div>
<form name="_newscontent_fromname"><div class="content_title"><h1>{TITLE}</h1></div>
<div class="content_info">发布时间:2026-05-20&nbsp;&nbsp;作者:宣传中心&nbsp;&nbsp;
点击数:<span>35</span></div>
<div id="vsb_content"><div class="v_news_content"><p style="text-indent:2em">{BODY[3:-4]}</p>
</div></div></form><div class="footer">Copyright © 2026 某某大学 计算机学院 版权所有<br>
地址:大学路1号 邮编:100000 电话:010-12345678</div></body></html>"""

BARE = f"""<html><body><table><tr><td><a href="/">首页</a> | <a href="/news">新闻</a></td></tr>
<tr><td><b>{TITLE}</b><br>{BODY}</td></tr>
<tr><td>关于我们 联系方式</td></tr></table></body></html>"""


@pytest.mark.parametrize("html", [WECHAT, CMS, BARE], ids=["wechat", "cms", "no-container"])
def test_a_page_that_says_what_was_approved_matches(html):
    found = pages.compare(APPROVED, pages.extract(html), title=TITLE)
    assert found.matches, found


@pytest.mark.parametrize("html", [WECHAT, CMS, BARE], ids=["wechat", "cms", "no-container"])
def test_one_character_changed_or_added_does_not_match(html):
    for changed in (html.replace("一等奖", "特等奖"), html.replace("参加了比赛", "没有参加比赛")):
        found = pages.compare(APPROVED, pages.extract(changed), title=TITLE)
        assert not found.matches and found.missing, found


def test_a_paragraph_added_inside_the_article_does_not_match():
    changed = WECHAT.replace("</p></div>", "</p><p>另:报名费每人 200 元。</p></div>")
    found = pages.compare(APPROVED, pages.extract(changed), title=TITLE)
    assert not found.matches and any("报名费" in s for s in found.added)


def test_a_missing_paragraph_and_a_wrong_title_are_named():
    changed = CMS.replace("来自全院的", "").replace(TITLE, "另一个标题")
    found = pages.compare(APPROVED, pages.extract(changed), title=TITLE)
    assert found.title_missing and found.missing
    assert "标题" in found.summary() and "缺失" in found.summary()


def test_the_frame_of_a_page_without_container_is_tolerated_only_up_to_the_threshold():
    noisy = BARE.replace("关于我们 联系方式", "关于我们 联系方式" + "友情链接" * 20)
    found = pages.compare(APPROVED, pages.extract(noisy), title=TITLE)
    assert not found.matches and found.edge_chars > pages.EDGE_MIN


def test_scripts_styles_and_navigation_are_not_text():
    text = pages.extract(WECHAT + CMS).text
    assert "msg_title" not in text and "学院概况" not in text and "阅读原文" not in text
