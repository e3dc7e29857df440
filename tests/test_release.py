"""Releasing false positives (放行): the sample lexicons let the college's campaigns through."""

import pytest

from app import screening

# The college's own campaigns: each once blocked by the sample lexicons (issue 14, item 7).
CAMPAIGNS = [
    "禁毒宣传:远离K粉,珍爱生命",
    "国家安全教育周:警惕网络赌博陷阱,守护好自己的钱袋子",
    "学院开展揭批邪教主题班会",
    "期末考试严禁代考,违者按学籍管理规定处理",
]
# What the same words say when they are the harm itself.
HARMFUL = [
    ("出售K粉,量大从优,私信联系", "obscenity_violence"),
    ("网络赌博平台注册就送彩金,日赚千元", "obscenity_violence"),
    ("邪教组织欢迎你加入,保你全家平安", "cult_superstition"),
    ("四六级代考,包过,价格面议", "other_prohibited"),
    ("警惕网络赌博陷阱?不如来我们的网络赌博平台", "obscenity_violence"),
]


@pytest.mark.parametrize("text", CAMPAIGNS)
def test_the_colleges_campaigns_pass_the_sample_lexicons(text):
    assert screening.screen_text(text).verdict != screening.BLOCK


@pytest.mark.parametrize(("text", "category"), HARMFUL)
def test_their_harmful_counterparts_are_still_blocked(text, category):
    found = screening.screen_text(text)
    assert found.verdict == screening.BLOCK
    assert category in {h.category for h in found.hits_with(screening.BLOCK)}
