"""Times people see are Beijing time and say so."""

from datetime import UTC, datetime

from app.core import clock


def test_stored_utc_is_shown_as_beijing_time_with_its_label():
    assert clock.beijing("2026-05-01T23:30:05+00:00") == "2026-05-02 07:30 北京时间"
    assert (
        clock.beijing("2026-05-01T23:30:05+00:00", seconds=True) == "2026-05-02 07:30:05 北京时间"
    )
    assert clock.iso_beijing("2026-05-01T23:30:05+00:00") == "2026-05-02T07:30:05+08:00"


def test_empty_or_unreadable_values_are_shown_as_they_are():
    assert clock.beijing("") == ""
    assert clock.beijing("从未") == "从未"


def test_age_in_words():
    now = datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
    assert clock.age("2026-05-02T11:59:40+00:00", now) == "刚刚"
    assert clock.age("2026-05-02T11:15:00+00:00", now) == "45 分钟前"
    assert clock.age("2026-05-02T09:00:00+00:00", now) == "3 小时前"
    assert clock.age("2026-04-28T12:00:00+00:00", now) == "4 天前"
