"""qianfa screening: operators check lexicons, try a text and read a draft's result."""

import pytest
from click.testing import CliRunner

import app.cli
from tests.factories import submitted, world


@pytest.fixture
def cli(r):
    runner = CliRunner()
    return lambda *args: runner.invoke(app.cli.cli, list(args), catch_exceptions=False)


def test_check_lists_every_category_of_the_sample(cli):
    result = cli("screening", "check")
    assert result.exit_code == 0, result.output
    assert "词库版本:" in result.output and "obscenity_violence" in result.output


def test_check_names_skipped_lines_and_fails(cli, tmp_path):
    (tmp_path / "rumour.txt").write_text("谣言甲\n谣言甲\n", encoding="utf-8")
    result = cli("screening", "check", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "rumour.txt 第 2 行: 「谣言甲」重复,已忽略" in result.output


def test_try_shows_the_verdict_and_each_hit(cli):
    result = cli("screening", "try", "有人賭 博")
    assert result.exit_code == 0
    assert result.output.startswith("内容检查已拦截") and "text[2:5]" in result.output


def test_result_of_a_submitted_draft(cli, r):
    draft = submitted(r, world(r), text="娱乐圈新闻")
    result = cli("screening", "result", draft.id)
    assert result.exit_code == 0 and "娱乐性信息" in result.output
    assert cli("screening", "result", draft.id, "--version", "9").exit_code == 1
