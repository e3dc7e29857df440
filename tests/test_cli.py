"""The qianfa command: the registry end to end, and one clear line for every bad input."""

import os
import subprocess
import sys
from datetime import date

import pytest
from click.testing import CliRunner

import app.cli
from app.core import audit
from app.core.settings import load_settings
from app.drafts import lifecycle
from app.registry import filings, people, platforms
from tests.conftest import free_port
from tests.factories import snapshot, submitted, world


def qianfa(*args, env=None, input=None):
    """Run the real console script in a child process, as an operator would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=60,
    )


@pytest.fixture
def cli(r):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app.cli.cli, list(args), catch_exceptions=False)

    return invoke


def test_registry_from_the_command_line(cli, r):
    """Units, people, roles, a platform and its activation can all be done from the CLI."""
    assert "U1" in cli("unit", "create", "计算机学院", "--kind", "secondary_college").output
    assert "U2" in cli("unit", "create", "党委宣传部", "--kind", "propaganda").output
    assert "P1" in cli("person", "create", "李书记", "--title", "党总支书记").output
    cli("person", "create", "王老师", "--phone", "13800000000")
    cli("person", "create", "张部长")
    assert cli("role", "grant", "p3", "propaganda").exit_code == 0
    created = cli(
        "platform",
        "create",
        "jsj-wx",
        "--name",
        "计算机学院",
        "--kind",
        "wechat",
        "--tier",
        "2",
        "--unit",
        "U1",
        "--supervising-unit",
        "U2",
        "--responsible",
        "P1",
        "--admin",
        "P2",
    )
    assert "备案中" in created.output
    refused = cli("platform", "status", "jsj-wx", "active", "--reason", "审批完成")
    assert refused.exit_code == 1 and "第四、六、七条" in refused.output
    assert "F1" in cli("filing", "open", "jsj-wx", "--other-media", "计算机学院微博").output
    today = date.today().isoformat()
    for step in filings.STEPS:
        fields = ["--decision", "agree", "--opinion", "同意", "--signer", "某某"]
        signed = cli("filing", "sign", "F1", step.name, *fields, "--signed-on", today)
        assert signed.exit_code == 0, signed.output
    assert "审批完成" in cli("filing", "show", "F1").output
    printed = cli("filing", "print", "F1").output
    assert "计算机学院微博" in printed and "党委书记意见:同意" in printed
    assert "运行中" in cli("platform", "show", "jsj-wx").output
    listing = cli("person", "list").output
    assert "第一责任人@jsj-wx" in listing and "宣传部审核人" in listing
    code_output = cli("bind-code", "P2", "--platform", "jsj-wx").output
    assert "绑定码:" in code_output and "只能使用一次" in code_output
    assert audit.verify(r).ok


def test_drafts_are_listed_and_shown_with_sign_off_progress(cli, r):
    """Drafts made through the domain are listed and shown with their sign-off progress."""
    w = world(r)
    draft = submitted(r, w)
    listing = cli("draft", "list", "--platform", w.platform).output
    assert draft.id in listing and "审核中" in listing
    shown = cli("draft", "show", draft.id.lower()).output
    assert "需要 第一责任人:待审核" in shown and draft.content_hash in shown
    assert draft.id in cli("draft", "list", "--status", "in_review").output
    assert lifecycle.get(r, draft.id).status == "in_review"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unit", "create", "某单位", "--kind", "bank"], "单位类型无效"),
        (["person", "show", "X9"], "人员编号格式不对"),
        (["person", "show", "P404"], "没有编号为 P404 的人员"),
        (["platform", "status", "nope-wx", "active", "--reason", "x"], "没有标识为 nope-wx 的平台"),
        (["platform", "status", "Bad Id", "active", "--reason", "x"], "平台标识格式不对"),
        (["role", "grant", "P1", "admin"], "平台角色"),
        (["filing", "open", "nope-wx"], "没有标识为 nope-wx 的平台"),
        (["filing", "show", "F9"], "没有编号为 F9 的备案表"),
        (["draft", "list", "--status", "lost"], "稿件状态无效"),
    ],
)
def test_bad_input_gets_one_line_and_changes_nothing(r, args, message):
    """A refused command prints one Chinese line on stderr, exits 1 and leaves Redis as it was."""
    qianfa("person", "create", "李书记")
    before = snapshot(r)
    result = qianfa(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("错误:") and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(r) == before


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"QIANFA_PORT": "eighty"}, "QIANFA_PORT"),
        ({"QIANFA_PORT": "70000"}, "QIANFA_PORT"),
        ({"QIANFA_REDIS_URL": "http://localhost:6379"}, "QIANFA_REDIS_URL"),
        ({"QIANFA_LOG_LEVEL": "LOUD"}, "QIANFA_LOG_LEVEL"),
        ({"QIANFA_BIND_CODE_TTL": "5"}, "QIANFA_BIND_CODE_TTL"),
        ({"QIANFA_WECHAT_API_BASE": "api.weixin.qq.com"}, "QIANFA_WECHAT_API_BASE"),
        ({"QIANFA_MASTER_KEY": "short"}, "QIANFA_MASTER_KEY"),
        ({"QIANFA_MASTER_KEY_FILE": "/nonexistent/master.key"}, "QIANFA_MASTER_KEY_FILE"),
    ],
)
def test_malformed_setting_stops_with_one_line_naming_it(env, setting):
    """A bad setting stops any command at start-up with one line naming the variable."""
    result = qianfa("unit", "list", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and "Traceback" not in result.stderr


def test_redis_down_gives_a_clear_error_and_works_again_when_back(r):
    """With Redis unreachable a command fails with one clear line; it works once Redis is back."""
    dead = {"QIANFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    result = qianfa("unit", "create", "计算机学院", "--kind", "secondary_college", env=dead)
    assert result.returncode == 1
    assert result.stderr.startswith("错误:无法访问 Redis") and len(result.stderr.splitlines()) == 1
    assert qianfa("unit", "create", "计算机学院", "--kind", "secondary_college").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["platform", "status"], "缺少参数 PLATFORM_ID"),
        (["launch"], "没有命令 launch"),
        (["draft", "list", "--limit", "0"], "--limit 的值无效"),
        (["unit", "create", "x"], "缺少选项 --kind"),
    ],
)
def test_usage_mistakes_are_one_chinese_line(args, message):
    """Missing arguments, unknown commands and bad option values get one line, exit status 2."""
    result = qianfa(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("错误:") and message in result.stderr


def test_file_errors_are_one_line_and_export_nothing(r, tmp_path):
    """An export to a missing folder fails with one line and leaves no audit record of an export."""
    before = snapshot(r)
    result = qianfa("audit", "export", "--out", str(tmp_path / "missing" / "a.jsonl"))
    assert result.returncode == 1 and "文件或目录不存在" in result.stderr
    sealed = qianfa(
        "credentials",
        "export-sealed",
        "--out",
        str(tmp_path / "missing" / "s.qfa"),
        input="a long passphrase\na long passphrase\n",
    )
    assert sealed.returncode == 1 and "文件或目录不存在" in sealed.stderr
    assert "Traceback" not in result.stderr + sealed.stderr
    assert snapshot(r) == before


def test_settings_never_show_the_redis_password_or_master_key():
    """Neither the printed settings nor a refused Redis URL show a password or the master key."""
    key = "A" * 43 + "="
    shown = repr(
        load_settings({"QIANFA_REDIS_URL": "redis://:hunter2@db:6379/0", "QIANFA_MASTER_KEY": key})
    )
    assert "hunter2" not in shown and key not in shown and "db:6379" in shown
    result = qianfa("unit", "list", env={"QIANFA_REDIS_URL": "hunter2@db:6379"})
    assert result.returncode == 2 and "hunter2" not in result.stderr


def test_a_filing_signed_out_of_order_gets_one_line_and_changes_nothing(r):
    """Art. 6: the opinions are recorded in the attachment's order, or not at all."""
    w = world(r, status="filing")
    filing = filings.open_form(r, audit.Actor.cli("tester"), w.platform)
    before = snapshot(r)
    fields = ["--decision", "agree", "--opinion", "同意", "--signer", "某某"]
    result = qianfa("filing", "sign", filing.id, "propaganda", *fields, "--signed-on", "2026-01-05")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "申请单位负责人意见" in result.stderr and "第六条" in result.stderr
    assert snapshot(r) == before


def test_an_owner_change_from_the_cli_waits_on_the_refiling(cli, r):
    """Art. 6: the command says which form the change waits on; the old owner stays in charge."""
    w = world(r)
    newcomer = people.create(r, audit.Actor.cli("tester"), "新书记").id
    out = cli("platform", "set-responsible", w.platform, newcomer, "--reason", "人事调整")
    assert "变更备案表 F2" in out.output and "审批完成后生效" in out.output
    assert platforms.get(r, w.platform).responsible == w.responsible
    assert f"待生效变更:第一责任人 {newcomer}" in cli("platform", "show", w.platform).output


def test_an_art12_mismatch_from_the_cli_is_one_line_naming_the_article(r):
    """A student club's platform filed as tier 1 is refused by the command, nothing written."""
    for name, kind in (("摄影社", "student_club"), ("校团委", "youth_league")):
        qianfa("unit", "create", name, "--kind", kind)
    qianfa("person", "create", "团委书记")
    qianfa("person", "create", "社长")
    before = snapshot(r)
    args = ["--name", "摄影社", "--kind", "wechat", "--tier", "1", "--unit", "U1"]
    owners = ["--supervising-unit", "U1", "--responsible", "P1", "--admin", "P2"]
    result = qianfa("platform", "create", "sys-wx", *args, *owners)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "不能主办一级平台:第十二条" in result.stderr and snapshot(r) == before


def test_an_office_warning_is_confirmed_from_the_cli_before_the_propaganda_opinion(cli, r):
    """Art. 12-13: without the confirmation the opinion is one line and writes nothing."""
    w = world(r, status="filing")
    filing = filings.open_form(r, audit.Actor.cli("tester"), w.platform)
    fields = ["--decision", "agree", "--opinion", "同意", "--signer", "某某"]
    today = ["--signed-on", date.today().isoformat()]
    assert cli("filing", "sign", filing.id, "unit_head", *fields, *today).exit_code == 0
    before = snapshot(r)
    result = qianfa("filing", "sign", filing.id, "propaganda", *fields, *today)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "第十二、十三条" in result.stderr and snapshot(r) == before
    confirmed = cli("filing", "confirm-office", filing.id, "--note", "已核实任命文件")
    assert confirmed.exit_code == 0 and "已确认职务提示" in confirmed.output
    assert "党委宣传部已确认上述提示" in cli("filing", "print", filing.id).output
    assert cli("filing", "sign", filing.id, "propaganda", *fields, *today).exit_code == 0
