"""``qianfa platform preview-setting`` and ``qianfa publish``: the shell side of publishing."""

import pytest
from click.testing import CliRunner

import app.cli
from app.publishing import schedule
from tests.factories import submitted, world
from tests.publishing_helpers import approved


@pytest.fixture
def cli(r):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app.cli.cli, list(args), catch_exceptions=False)

    return invoke


def test_preview_setting_on_and_off(cli, r):
    """The per-platform preview switch is set from the shell."""
    w = world(r)
    result = cli("platform", "preview-setting", w.platform, "on")
    assert result.exit_code == 0 and "已开启" in result.output
    assert schedule.preview_enabled(r, w.platform)
    assert cli("platform", "preview-setting", w.platform, "off").exit_code == 0
    assert not schedule.preview_enabled(r, w.platform)


def test_publish_schedule_show_and_sweep(cli, r):
    """An approved draft is scheduled once, shown with its step, and sweeping finds nothing."""
    w = world(r)
    draft = approved(r, w)
    assert "等待发布" in cli("publish", "schedule", draft.id).output
    assert "等待发布" in cli("publish", "schedule", draft.id).output
    assert "第 1 版(第 1 轮):等待发布" in cli("publish", "show", draft.id).output
    assert "重新排队 0 项发布" in cli("publish", "sweep").output


def test_publish_schedule_refuses_a_draft_under_review(cli, r):
    """A draft that is not approved is refused with one line."""
    draft = submitted(r, world(r))
    result = cli("publish", "schedule", draft.id)
    assert result.exit_code == 1 and "不是「已通过」" in result.output
