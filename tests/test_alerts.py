import pytest

from app.core import alerts
from app.core.errors import Conflict
from app.core.store import atomically


def test_queued_alerts_are_listed_newest_first(r):
    alerts.queue(r, "forged_callbacks", "伪造签名 30 次", platform="jsj-wx", detail={"count": 30})
    atomically(
        r, [], lambda tx: alerts.queue_in(tx, "prohibited_content", "D1 含禁止内容", draft="D1")
    )

    newest, older = alerts.recent(r)
    assert (newest.kind, newest.draft, newest.title) == (
        "prohibited_content",
        "D1",
        "发现禁止发布的内容",
    )
    assert (older.platform, older.detail) == ("jsj-wx", {"count": 30})


def test_alert_in_a_refused_transaction_is_not_queued(r):
    def change(tx):
        alerts.queue_in(tx, "publish_failed", "D2 发布失败", draft="D2")
        raise Conflict("refused after the alert was queued")

    with pytest.raises(Conflict):
        atomically(r, [], change)
    assert alerts.recent(r) == []


def test_unknown_kind_is_a_programming_error(r):
    with pytest.raises(ValueError):
        alerts.queue(r, "made_up", "x")
    assert alerts.recent(r) == []


def test_a_reserved_number_is_the_alerts_and_a_refused_change_uses_none(r):
    alerts.queue(r, "forged_callbacks", "伪造签名")  # A1, outside any transaction

    def change(tx):
        number = alerts.reserve(tx)
        alerts.queue_in(tx, "problem_report", "举报", number=number)
        alerts.queue_in(tx, "publish_failed", "D2 发布失败", draft="D2")  # numbered on from it
        return number

    def refused(tx):
        alerts.reserve(tx)
        raise Conflict("refused")

    with pytest.raises(Conflict):
        atomically(r, [], refused)
    assert atomically(r, [], change) == "A2"
    assert alerts.queue(r, "forged_callbacks", "伪造签名")
    numbers = [(a.number, a.kind) for a in alerts.recent(r)]
    assert numbers == [
        ("A4", "forged_callbacks"),
        ("A3", "publish_failed"),
        ("A2", "problem_report"),
        ("A1", "forged_callbacks"),
    ]
