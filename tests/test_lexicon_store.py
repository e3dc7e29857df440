"""Keeping the lexicons: imports in any of the encodings Chinese offices use, edits and refusals,
each change audited and versioned, and what screening does with it at once."""

import json

import pytest
from click.testing import CliRunner

import app.cli
from app import screening
from app.core import audit
from app.core.errors import ContentBlocked, Forbidden, InvalidInput
from app.drafts import lifecycle, rescreen, review
from app.monitoring import online
from app.screening import lexicon_store
from tests.factories import OPERATOR, actor, snapshot, submitted, world

RUMOURS = "# 导入的谣言词\n某地地震预言\n吃盐防辐射\n"
LEADERS = "张建国 | 党委书记 | 1 | 2021-03-01 |\n李文华 | 校长 | 2 | 2022-07-01 |\n"


@pytest.fixture
def cli(r, lexicons):
    runner = CliRunner()
    return lambda *args: runner.invoke(app.cli.cli, list(args), catch_exceptions=False)


def imported(r) -> list[dict]:
    return list(audit.records(r, action="lexicon.import"))


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [
        ("utf-8", "UTF-8"),
        ("utf-8-sig", "UTF-8(带 BOM)"),
        ("gbk", "GBK"),
        ("gb18030", "GB18030"),
    ],
)
def test_the_cli_imports_a_list_in_each_encoding(cli, r, lexicons, tmp_path, encoding, shown):
    text = RUMOURS + ("䶮字谣言\n" if encoding == "gb18030" else "")  # 䶮: not in GBK
    path = tmp_path / "rumours.txt"
    path.write_bytes(text.encode(encoding))
    result = cli("screening", "import", "rumour", str(path))
    assert result.exit_code == 0, result.output
    assert f"文件编码 {shown}" in result.output and "新增 " in result.output
    terms = screening.rules().terms("rumour")
    assert "某地地震预言" in terms and "吃盐防辐射" in terms
    assert screening.screen_text("听说吃盐防辐射").verdict == screening.BLOCK
    [record] = imported(r)
    assert record["via"] == "cli" and record["operator"] and record["subject"] == "rumour.txt"
    detail = json.loads(record["detail"])
    assert detail["encoding"] == shown and "吃盐防辐射" in detail["added"]
    assert record["decision"] == screening.rules().version


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("谣言".encode("utf-16"), "编码无法识别(支持 UTF-8、GBK、GB18030)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "不是文本文件"),
        (b"\xff\xfe\xfd\xfc abc", "编码无法识别"),
        (b"# only a comment\n!!!\n", "中没有可导入的条目"),
    ],
)
def test_an_unreadable_file_is_one_line_and_changes_nothing(cli, r, lexicons, tmp_path, data, said):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    before, kept = snapshot(r), (lexicons / "rumour.txt").read_bytes()
    result = cli("screening", "import", "rumour", str(path))
    assert result.exit_code == 1 and said in result.output
    assert result.output.startswith("错误:bad.txt") and result.output.count("\n") == 1
    assert (lexicons / "rumour.txt").read_bytes() == kept and snapshot(r) == before


def test_bad_lines_are_named_by_file_and_line_and_the_rest_imported(cli, r, lexicons, tmp_path):
    path = tmp_path / "more.txt"
    path.write_text("新谣言甲\n!!!\n新谣言甲\nx\n新谣言乙\n", encoding="gbk")
    result = cli("screening", "import", "rumour", str(path))
    assert result.exit_code == 0, result.output
    assert "注意:more.txt 第 2 行: 「!!!」只有标点或空白,已跳过" in result.output
    assert "more.txt 第 3 行: 「新谣言甲」重复,已跳过" in result.output
    assert "more.txt 第 4 行: 「x」太短,会到处误报,已跳过" in result.output
    assert "新增 2 条" in result.output
    assert {"新谣言甲", "新谣言乙"} <= set(screening.rules().terms("rumour"))
    assert screening.rules().problems == []  # nothing bad was written


def test_replace_makes_the_file_the_list(cli, r, lexicons, tmp_path):
    path = tmp_path / "allow.txt"
    path.write_text("远离谣言\n", encoding="utf-8")
    assert cli("screening", "import", "rumour", str(path), "--allow", "--replace").exit_code == 0
    assert screening.rules().terms("rumour", allow=True) == ["远离谣言"]
    exported = cli("screening", "export", "rumour", "--allow")
    assert exported.output == "远离谣言\n"


@pytest.mark.parametrize(
    ("table", "said"),
    [
        (LEADERS + "张建国 | 校长 | 3 | 2021-03-01 |\n", "第 3 行:姓名「张建国」重复,未导入"),
        (LEADERS + "王立新 | 党委副书记 | 2 | 2023-01-01 |\n", "第 3 行:排序 2 与「李文华」冲突"),
        (LEADERS + "赵明远 | 副校长 | 四 |\n", "第 3 行:排序「四」应为正整数"),
    ],
)
def test_a_leaders_table_with_a_conflict_is_refused_whole(cli, r, lexicons, tmp_path, table, said):
    path = tmp_path / "leaders.txt"
    path.write_text(table, encoding="gbk")
    before, kept = snapshot(r), (lexicons / "leaders.txt").read_bytes()
    result = cli("screening", "import", "leaders", str(path))
    assert result.exit_code == 1 and f"错误:leaders.txt {said}" in result.output
    assert (lexicons / "leaders.txt").read_bytes() == kept and snapshot(r) == before


def test_a_leaders_table_is_imported_whole_and_checked_in_drafts(cli, r, lexicons, tmp_path):
    path = tmp_path / "table.txt"
    path.write_text(LEADERS.replace("李文华", "孙立人"), encoding="gb18030")
    result = cli("screening", "import", "leaders", str(path))
    assert result.exit_code == 0, result.output
    assert "删除 " in result.output  # the old table is gone: imported whole
    found = screening.screen_text("校长孙立人、党委书记张建国出席")
    assert [h.category for h in found.hits] == ["leader_order"]


def test_expression_rules_and_typos_are_imported_like_lists(cli, r, lexicons, tmp_path):
    path = tmp_path / "typos.txt"
    path.write_text("按装调试 | 安装调试 | 常见错字\n坏行没有分隔\n", encoding="gbk")
    result = cli("screening", "import", "typo", str(path))
    assert result.exit_code == 0 and "typos.txt 第 2 行: 格式应为" in result.output
    [hit] = screening.screen_text("设备按装调试完毕").hits
    assert (hit.category, hit.suggestion) == ("typo", "安装调试")
    assert cli("screening", "remove", "typo", "按装调试").exit_code == 0
    assert not screening.screen_text("设备按装调试完毕").hits


def test_a_term_added_blocks_a_new_draft_and_removed_no_longer(r, lexicons):
    w = world(r)
    tgt = lexicon_store.target("other_prohibited")
    change = lexicon_store.edit(r, actor(w.propaganda), tgt, add=["歌手大赛"])
    assert change.added == ["歌手大赛"] and change.before != change.after
    with pytest.raises(ContentBlocked):
        submitted(r, w, text="校园十佳歌手大赛报名开始")
    lexicon_store.edit(r, actor(w.propaganda), tgt, remove=["歌手大赛"])
    assert submitted(r, w, text="校园十佳歌手大赛报名开始").status == lifecycle.IN_REVIEW
    records = list(audit.records(r, action="lexicon.edit"))
    assert [rec["person"] for rec in records] == [w.propaganda, w.propaganda]
    assert '"added": ["歌手大赛"]' in records[0]["detail"]
    assert '"removed": ["歌手大赛"]' in records[1]["detail"]
    versions = lexicon_store.history(r)
    assert [v["version"] for v in versions] == [rec["decision"] for rec in reversed(records)]
    assert versions[0]["person"] == w.propaganda and versions[0]["removed"] == ["歌手大赛"]


def test_an_approved_draft_and_an_online_article_are_screened_again(r, lexicons):
    w = world(r)
    draft = submitted(r, w, text="校园十佳歌手大赛报名开始")
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    news = [{"title": "校园十佳歌手大赛", "content": "<p>欢迎报名</p>"}]
    assert online.check(r, w.platform, "A1", news) == ""
    lexicon_store.edit(r, OPERATOR, lexicon_store.target("other_prohibited"), add=["歌手大赛"])
    assert rescreen.recheck(r, draft.id).verdict == screening.BLOCK  # the publish job's check
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    assert online.stale(r, w.platform) == ["A1"]
    assert online.check(r, w.platform, "A1", news) == "online_content"


def test_a_word_replaced_by_one_as_long_is_seen_at_once(r, lexicons):
    tgt = lexicon_store.target("rumour")
    lexicon_store.edit(r, OPERATOR, tgt, add=["甲乙丙丁"])
    assert screening.screen_text("甲乙丙丁").verdict == screening.BLOCK
    lexicon_store.edit(r, OPERATOR, tgt, remove=["甲乙丙丁"], add=["戊己庚辛"])
    assert screening.screen_text("甲乙丙丁").verdict == screening.PASS
    assert screening.screen_text("戊己庚辛").verdict == screening.BLOCK


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"add": ["赌博"]}, "不能添加:「赌博」已在词库中"),
        ({"add": ["a"]}, "不能添加:「a」太短"),
        ({"remove": ["没有的词"]}, "中没有「没有的词」,未删除"),
        ({"add": ["新词甲"], "remove": ["没有的词"]}, "未删除"),
        ({}, "请填写要添加或删除的词条"),
    ],
)
def test_a_refused_edit_changes_nothing(r, lexicons, change, said):
    before, kept = snapshot(r), (lexicons / "obscenity_violence.txt").read_bytes()
    with pytest.raises(InvalidInput, match=said):
        lexicon_store.edit(r, OPERATOR, lexicon_store.target("obscenity_violence"), **change)
    assert (lexicons / "obscenity_violence.txt").read_bytes() == kept and snapshot(r) == before


def test_only_the_propaganda_department_changes_a_list(r, lexicons):
    w = world(r)
    before, kept = snapshot(r), (lexicons / "rumour.txt").read_bytes()
    for who in (w.admin, w.responsible):
        with pytest.raises(Forbidden, match="只有宣传部审核人可以维护词库"):
            lexicon_store.edit(r, actor(who), lexicon_store.target("rumour"), add=["新谣言"])
        with pytest.raises(Forbidden):
            lexicon_store.import_file(
                r, actor(who), lexicon_store.target("rumour"), b"new\n", "x.txt"
            )
    assert (lexicons / "rumour.txt").read_bytes() == kept and snapshot(r) == before


def test_unknown_lists_are_refused(cli):
    result = cli("screening", "export", "nonsense")
    assert result.exit_code == 1 and "没有「nonsense」这个词库" in result.output
    result = cli("screening", "export", "typo", "--allow")
    assert result.exit_code == 1 and "只有类别的词库有白名单" in result.output


def test_the_cli_adds_removes_and_lists_the_history(cli, r, lexicons):
    assert cli("screening", "add", "rumour", "新谣言甲", "新谣言乙").exit_code == 0
    assert cli("screening", "remove", "rumour", "新谣言甲").exit_code == 0
    result = cli("screening", "history")
    lines = result.output.splitlines()
    assert len(lines) == 2 and "命令行" in lines[0] and "删除 1 条" in lines[0]
    assert "新增 2 条" in lines[1] and lines[0].split()[0] == screening.rules().version
