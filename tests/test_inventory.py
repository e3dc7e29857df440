"""The inventory (台账): every platform with its kind, tier, units, people, filing date,
last publication and status, as a console page, a CSV from the console and
``qianfa platform export``; a running platform silent for QIANFA_DORMANT_DAYS is dormant."""

import csv
import io
from datetime import timedelta

from click.testing import CliRunner

import app.cli
from app.core import keys
from app.core.audit import Actor
from app.core.store import atomically, now
from app.drafts import lifecycle
from app.monitoring import inventory, reconcile
from app.registry import owners, people, platforms
from tests.console_helpers import signed_in
from tests.factories import OPERATOR, refiled, world
from tests.publishing_helpers import approved


def published(r, w) -> None:
    """A draft Qianfa published (what the publishing worker's moves leave)."""
    draft = approved(r, w, "text", text="计算机学院召开教学工作会议")
    lifecycle.system_move(r, Actor.system("publisher"), draft.id, "start_publishing")
    lifecycle.system_move(r, Actor.system("publisher"), draft.id, "publish")


def seen_online(r, platform_id: str, moment) -> None:
    """What reconciliation records of an article it saw online (app.monitoring.reconcile)."""
    known = {"update_time": int(moment.timestamp()), "title": "通知", "url": "", "origin": ""}
    atomically(r, [], lambda tx: reconcile.remember_in(tx, platform_id, "A-1", known))


def test_a_platform_silent_for_the_dormant_days_is_dormant(r):
    w = world(r)
    platform = platforms.get(r, w.platform)
    assert not inventory.row(r, platform, 90).dormant
    later = now() + timedelta(days=91)
    assert inventory.row(r, platform, 90, later).dormant  # never published since registered
    seen_online(r, w.platform, later - timedelta(days=3))
    row = inventory.row(r, platform, 90, later)
    assert not row.dormant and row.fields["last_published"]


def test_the_inventory_is_exported_from_the_command_line(r):
    w = world(r)
    typed = people.create(r, OPERATOR, "=HYPERLINK(1)")  # a name typed by someone
    refiled(r, owners.set_responsible(r, OPERATOR, w.platform, typed.id, "测试"))
    result = CliRunner().invoke(app.cli.cli, ["platform", "export"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [heading, row] = list(csv.reader(io.StringIO(result.output)))
    assert heading[:3] == ["平台标识", "平台名称", "类型"] and "僵尸号" in heading
    fields = dict(zip(heading, row, strict=True))
    assert fields["平台标识"] == w.platform and fields["状态"] == "运行中"
    assert fields["第一责任人"].startswith("'=HYPERLINK")  # shown, never run as a formula
    assert "王老师" in fields["管理员"] and "赵老师" in fields["管理员"]


def test_the_console_shows_and_exports_the_platforms_a_person_may_see(r, settings):
    w = world(r)
    other = world(r, platform_id="tw-wx")
    client, _ = signed_in(settings, r, w.responsible)
    page = client.get("/console/inventory").data.decode()
    assert w.platform in page and other.platform not in page
    exported = client.get("/console/inventory.csv")
    assert exported.mimetype == "text/csv"
    text = exported.data.decode("utf-8-sig")
    assert w.platform in text and other.platform not in text

    boss, _ = signed_in(settings, r, w.propaganda)
    dashboard = boss.get("/console/dashboard").data.decode()
    assert "僵尸号" in dashboard
    assert other.platform in boss.get("/console/inventory").data.decode()


def test_the_last_publication_comes_from_indexes_that_reindex_rebuilds(r):
    """Qianfa's own publications and what was seen online both count; after an upgrade
    ``qianfa draft reindex`` rebuilds the indexes they are read from."""
    ours, theirs = world(r), world(r, platform_id="tw-wx")
    published(r, ours)
    seen_online(r, theirs.platform, now() - timedelta(days=3))
    later = now() + timedelta(days=60)
    before = {row.platform.id: row.fields["last_published"] for row in inventory.rows(r, 30, later)}
    assert all(before.values()) and not inventory.dormant(r, platforms.all_platforms(r), 90, later)
    r.delete(*r.keys("qianfa:drafts:*:published-at"), keys.online_newest())
    assert [row.dormant for row in inventory.rows(r, 30, later)] == [True, True]
    result = CliRunner().invoke(app.cli.cli, ["draft", "reindex"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    after = {row.platform.id: row.fields["last_published"] for row in inventory.rows(r, 30, later)}
    assert after == before
