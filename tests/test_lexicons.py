"""Lexicon files: checked line by line, versioned by hash, reloaded when they change."""

import os
import shutil

import pytest

from app import screening
from app.core.errors import ConfigError
from app.core.settings import get_settings, load_settings
from app.screening import lexicons


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "screening"
    path.mkdir()
    (path / "obscenity_violence.txt").write_text("赌博\n", encoding="utf-8")
    return path


def test_bad_lines_are_skipped_and_named_while_good_terms_work(directory):
    """Blank lines, duplicates, invalid UTF-8, control characters and punctuation-only lines."""
    (directory / "rumour.txt").write_bytes(
        "\ufeff# 注释\n\n   \n谣言甲\n谣 言 甲\n".encode()
        + b"\xff\xfe bad\n"
        + "控制\x07字符\n。。。\nx\n".encode()
        + ("长" * 80).encode()
        + "\n谣言乙\n".encode()
    )
    rules = lexicons.load(directory)
    problems = "\n".join(rules.problems)
    assert "rumour.txt 第 5 行: 「谣 言 甲」重复" in problems
    assert "第 6 行: 不是有效的 UTF-8" in problems
    assert "第 7 行: 含控制字符" in problems
    assert "第 8 行: 「。。。」只有标点或空白" in problems
    assert "第 9 行: 「x」太短" in problems
    assert "第 10 行: 词条超过" in problems
    assert rules.terms("rumour") == ["谣言甲", "谣言乙"]
    assert {h.term for h in screening.screen_text("谣言甲和谣言乙", rules=rules).hits} == {
        "谣言甲",
        "谣言乙",
    }


def test_unknown_files_and_bad_policy_are_noted_and_defaults_kept(directory):
    (directory / "gossip.txt").write_text("八卦\n", encoding="utf-8")
    (directory / "policy.toml").write_text('[verdicts]\nrumour = "explode"\nnope = "warn"\n')
    problems = "\n".join(lexicons.load(directory).problems)
    assert "gossip.txt: 没有「gossip」这个类别" in problems
    assert "rumour 的处理方式 'explode' 无效" in problems
    assert "没有「nope」这个类别" in problems
    assert lexicons.load(directory).verdict("rumour") == screening.BLOCK


def test_unparseable_policy_falls_back_to_the_defaults(directory):
    (directory / "policy.toml").write_text("[verdicts\n")
    rules = lexicons.load(directory)
    assert "无法解析" in rules.problems[0]
    assert rules.verdict("obscenity_violence") == screening.BLOCK
    assert rules.allowed_domains == lexicons.DEFAULT_DOMAINS


@pytest.mark.parametrize(
    "policy",
    ["verdicts = 3\n", 'links = "x"\n', "[links]\nallowed_domains = 5\n", b"\xff\n"],
)
def test_a_policy_of_the_wrong_shape_is_noted_not_fatal(directory, policy):
    raw = policy if isinstance(policy, bytes) else policy.encode()
    (directory / "policy.toml").write_bytes(raw)
    rules = lexicons.load(directory)
    assert rules.problems and rules.verdict("obscenity_violence") == screening.BLOCK


def test_a_category_switched_off_finds_nothing(directory):
    (directory / "policy.toml").write_text('[verdicts]\nobscenity_violence = "off"\n')
    assert not screening.screen_text("赌博", rules=lexicons.load(directory)).hits


def test_the_version_is_the_hash_of_the_files(directory, tmp_path):
    """The same files give the same version anywhere; any change gives a new one."""
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    assert lexicons.load(directory).version == lexicons.load(copy).version
    (copy / "obscenity_violence.txt").write_text("赌博\n色情\n", encoding="utf-8")
    assert lexicons.load(directory).version != lexicons.load(copy).version


def test_one_automaton_per_version_shared_and_not_rebuilt_on_touch(directory):
    """Loading again, or touching a file without changing it, reuses the compiled rules."""
    first = lexicons.load(directory)
    assert lexicons.load(directory) is first
    path = directory / "obscenity_violence.txt"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert lexicons.load(directory) is first


def test_a_changed_file_is_reloaded_without_restart(directory):
    before = lexicons.load(directory)
    (directory / "obscenity_violence.txt").write_text("赌博\n色情网站\n", encoding="utf-8")
    after = lexicons.load(directory)
    assert after.version != before.version
    assert screening.screen_text("色情网站", rules=after).hits
    assert not screening.screen_text("色情网站", rules=before).hits


def test_an_empty_directory_screens_with_patterns_only(tmp_path):
    rules = lexicons.load(tmp_path)
    found = screening.screen_text("赌博,13912345678", rules=rules)
    assert [h.category for h in found.hits] == ["personal_data"]


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="找不到内容检查的词库目录"):
        lexicons.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match="QIANFA_SCREENING_DIR"):
        load_settings({"QIANFA_SCREENING_DIR": str(tmp_path / "missing")})


def test_the_sample_lexicons_are_clean():
    """The shipped sample has no problems and covers every lexicon category."""
    rules = lexicons.load(get_settings().screening_dir)
    assert rules.problems == []
    for category in screening.CATEGORIES:
        assert rules.terms(category), category
