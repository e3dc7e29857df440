"""错敏: expression rules, outdated formulations, leaders' titles and order, typos, in real text."""

from datetime import date

import opencc
import pytest

from app import screening
from app.core.errors import InvalidInput
from app.screening import leaders, lexicons

S2T = opencc.OpenCC("s2t")
IN_2026 = date(2026, 3, 1)
# The fictional leaders of config/screening/leaders.txt, as the demo and these tests know them.
SECRETARY, PRESIDENT, DEPUTY_SECRETARY, VICE = "张建国", "李文华", "王立新", "赵明远"


def corrections(text: str, on: date = IN_2026, **kwargs) -> list[screening.Hit]:
    found = screening.screen_text(text, on=on, **kwargs)
    return [hit for hit in found.hits if hit.suggestion]


def only(text: str, on: date = IN_2026) -> screening.Hit:
    [hit] = corrections(text, on)
    return hit


def disguised(phrase: str) -> dict[str, str]:
    return {
        "plain": phrase,
        "spaces": " ".join(phrase),
        "full-width separators": "．".join(phrase),
        "ideographic spaces": "\u3000".join(phrase),
        "traditional": S2T.convert(phrase),
        "zero width": "\u200b".join(phrase),
    }


@pytest.mark.parametrize("how", sorted(disguised("x")))
def test_an_outdated_formulation_in_a_2026_post_is_found_however_written(how):
    """The propaganda department's first try: 学习贯彻十九大精神 in 2026."""
    phrase = disguised("学习贯彻十九大精神")[how]
    text = f"会议要求,全院师生要深入{phrase},扎实推进各项工作。"
    hit = only(text)
    assert (hit.category, hit.verdict) == ("outdated_expression", screening.WARN)
    assert text[hit.start : hit.end] == phrase
    assert hit.suggestion == "学习贯彻二十大精神"
    assert "二十大" in hit.note and "「" + phrase + "」→「学习贯彻二十大精神」" in hit.shown


def test_an_outdated_formulation_is_no_error_in_a_post_before_its_date():
    text = "全院师生深入学习贯彻十九大精神。"
    assert corrections(text, on=date(2021, 5, 4)) == []
    assert corrections(text, on=date(2022, 10, 23))  # the rule's first day


def test_a_wrong_political_expression_escalates_to_the_propaganda_department():
    found = screening.screen_text("台湾总统发表所谓新年讲话", on=IN_2026)
    [hit] = found.hits
    assert (hit.category, hit.suggestion) == ("political_expression", "台湾地区领导人")
    assert found.verdict == screening.ESCALATE and found.flags == {"sensitive_issue"}


def test_typos_of_official_writing_are_suggestions_not_blocks():
    found = screening.screen_text("截止目前,我院已签定协议十二项,再接再励。", on=IN_2026)
    assert found.verdict == screening.WARN
    assert {(h.excerpt, h.suggestion) for h in found.hits} == {
        ("截止目前", "截至目前"),
        ("签定协议", "签订协议"),
        ("再接再励", "再接再厉"),
    }


def test_a_leader_with_a_title_that_is_not_theirs_gets_the_right_one():
    text = f"党委副书记{SECRETARY}出席开学典礼并讲话。"
    hit = only(text)
    assert (hit.category, hit.excerpt, hit.suggestion) == ("leader_title", "党委副书记", "党委书记")
    assert SECRETARY in hit.note


def test_a_title_after_the_name_is_checked_too():
    hit = only(f"{VICE}校长出席。")
    assert (hit.excerpt, hit.suggestion) == ("校长", "副校长")


def test_the_right_titles_pass():
    text = f"党委书记{SECRETARY},校长{PRESIDENT},副校长{VICE}同志出席。"
    assert corrections(text) == []


@pytest.mark.parametrize("how", sorted(disguised("x")))
def test_leaders_names_are_found_through_the_lexicons_normalisation(how):
    name = disguised(SECRETARY)[how]
    hit = only(f"校长{name}出席会议。")
    assert hit.suggestion == "党委书记"


def test_a_retired_leader_keeps_the_title_only_as_former():
    """刘海峰 was 校长 until 2022-06-30 (leaders.txt): afterwards he is 原校长."""
    hit = only("校长刘海峰回校参加校庆。")
    assert (hit.excerpt, hit.suggestion) == ("校长", "原校长")
    assert "2022-06-30" in hit.note
    assert corrections("原校长刘海峰回校参加校庆。") == []
    assert corrections("校长刘海峰出席毕业典礼。", on=date(2020, 6, 20)) == []


def test_a_list_of_leaders_out_of_protocol_order_gets_the_right_order():
    text = f"出席会议的有校长{PRESIDENT}、党委书记{SECRETARY}和副校长{VICE}。"
    hit = only(text)
    assert hit.category == "leader_order"
    assert hit.excerpt == f"校长{PRESIDENT}、党委书记{SECRETARY}和副校长{VICE}"
    assert hit.suggestion == f"党委书记{SECRETARY}、校长{PRESIDENT}和副校长{VICE}"
    assert hit.note == f"按排序应为:{SECRETARY}、{PRESIDENT}、{VICE}"


def test_names_in_different_sentences_are_no_list():
    assert corrections(f"{PRESIDENT}同志主持会议。{SECRETARY}同志作报告。") == []


def test_a_list_in_protocol_order_passes():
    assert corrections(f"{SECRETARY}、{PRESIDENT}、{DEPUTY_SECRETARY}、{VICE}等出席。") == []


def test_a_leader_not_yet_in_office_is_not_judged():
    """陈思源 became 副校长 on 2023-01-01."""
    assert corrections(f"校长{PRESIDENT}、副校长陈思源出席。", on=date(2021, 1, 1)) == []
    assert corrections(f"副校长陈思源、校长{PRESIDENT}出席。")


def test_hits_in_article_html_point_into_the_source():
    html = "<p>全院<b>深入</b>学习贯彻十九大精神</p>"
    found = screening.screen({"content_html": html}, on=IN_2026)
    [hit] = [h for h in found.hits if h.suggestion]
    assert html[hit.start : hit.end] == "学习贯彻十九大精神"


def test_a_hit_keeps_its_suggestion_through_storage():
    found = screening.screen_text("截止目前一切正常", on=IN_2026)
    again = screening.Screening.from_dict(found.to_dict())
    assert again.hits[0].suggestion == "截至目前" and again == found
    assert found.to_dict()["hits"][0]["note"]


def test_each_kind_follows_its_verdict_in_policy(lexicons):
    policy = lexicons / "policy.toml"
    text = policy.read_text(encoding="utf-8")
    text = text.replace('typo = "warn"', 'typo = "off"')
    text = text.replace('outdated_expression = "warn"', 'outdated_expression = "block"')
    policy.write_text(text, encoding="utf-8")
    found = screening.screen_text("截止目前,全院学习贯彻十九大精神。", on=IN_2026)
    assert [(h.category, h.verdict) for h in found.hits] == [("outdated_expression", "block")]


def test_a_malformed_rule_line_is_named_and_skipped_the_rest_reloads(lexicons):
    before = screening.rules().version
    with open(lexicons / "typo.rules.txt", "a", encoding="utf-8") as f:
        f.write("只有一栏\n不必要 | 不必要\n做为 | 作为 | 介词 | 2020-13-01\n部暑 | 部署\n")
    rules = screening.rules()
    assert rules.version != before
    assert any("typo.rules.txt 第" in p and "格式应为" in p for p in rules.problems)
    assert any("规范表述与它相同" in p for p in rules.problems)
    assert any("2020-13-01" in p for p in rules.problems)
    assert only("要认真部暑。").suggestion == "部署"
    assert corrections("做为学生") == []


def test_an_unknown_rule_kind_is_named(lexicons):
    (lexicons / "slogans.rules.txt").write_text("甲乙 | 丙丁\n", encoding="utf-8")
    assert any("slogans.rules.txt" in p for p in screening.rules().problems)


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ("张三丰 | 校长 | 1\n张三丰 | 副校长 | 2\n", "姓名「张三丰」重复"),
        ("张三丰 | 校长 | 1\n李四光 | 党委书记 | 1\n", "排序 1 与「张三丰」冲突"),
        ("张三丰 | 校长 | 第一\n", "排序「第一」应为正整数"),
        ("张三丰 | 校长\n", "格式应为"),
    ],
)
def test_a_bad_leaders_table_is_refused_at_import_with_the_reason(table, reason):
    with pytest.raises(InvalidInput) as caught:
        leaders.parse(table.encode(), [], strict=True)
    assert reason in caught.value.message


def test_successive_holders_of_one_place_do_not_conflict():
    table = "刘海峰 | 校长 | 2 | 2016-07-01 | 2022-06-30\n李文华 | 校长 | 2 | 2022-07-01\n"
    assert len(leaders.parse(table.encode(), [], strict=True)) == 2


def test_a_hand_edited_table_with_a_duplicate_loads_without_it(lexicons):
    with open(lexicons / "leaders.txt", "a", encoding="utf-8") as f:
        f.write(f"{SECRETARY} | 校长 | 9\n")
    rules = screening.rules()
    assert any("leaders.txt 第" in p and "重复" in p for p in rules.problems)
    assert only(f"校长{SECRETARY}出席").suggestion == "党委书记"


def test_the_shipped_samples_load_without_problems(project_root):
    rules = lexicons.load(project_root / "config" / "screening")
    assert rules.problems == [] and rules.corrections >= 30


def test_an_escalation_by_expression_alone_is_not_called_an_art_11_topic():
    summary = screening.screen_text("台湾总统发表讲话", on=IN_2026).summary_zh()
    assert summary.startswith("内容检查须经党委宣传部审核。政治性表述错误:「台湾总统」→")
