"""The shared input checks: what users type on phones is accepted, anything hostile is not."""

from datetime import UTC, datetime

import pytest

from app.core import validate
from app.core.errors import InvalidInput


def test_single_line_fields_turn_line_breaks_into_spaces():
    """A name or reason typed with a line break becomes one line."""
    assert validate.text(" 数据\n有误\t请改 ", "原因", max_len=50) == "数据 有误 请改"


def test_multiline_fields_keep_their_lines():
    """Draft bodies keep their paragraphs."""
    assert validate.text("第一段\n第二段", "正文", max_len=50, multiline=True) == "第一段\n第二段"


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\x7fb"])
def test_control_characters_are_refused(bad):
    """Invisible control characters are refused in every field."""
    with pytest.raises(InvalidInput, match="控制字符"):
        validate.text(bad, "正文", max_len=50, multiline=True)


@pytest.mark.parametrize("bad", ["", "o|pen", "open:id", "x" * 65, None, 42])
def test_openids_are_wechat_shaped(bad):
    """OpenIDs carry only WeChat's characters, so they are safe inside keys and index entries."""
    with pytest.raises(InvalidInput, match="OpenID"):
        validate.openid(bad)
    assert validate.openid("oQianfaDemo_Staff-0001") == "oQianfaDemo_Staff-0001"


def test_times_without_a_zone_are_beijing_time():
    """A scheduled time typed without a zone means Beijing time."""
    assert validate.moment("2026-12-01T08:00", "时间") == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="格式不对"):
        validate.moment("明天早上", "时间")
