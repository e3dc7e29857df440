"""The lexicon pages of the console: in Chromium as the propaganda department uses them,
and refused to everyone else, attacks included."""

import json

import pytest

from app import screening
from app.channels import console_accounts
from app.core import audit
from tests.console_helpers import shot, sign_in_browser, signed_in, with_password
from tests.factories import submitted, world


@pytest.mark.browser
def test_the_propaganda_department_keeps_a_list_in_the_browser(r, lexicons, site, page, tmp_path):
    w = world(r)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.click("header nav >> text=词库")
    page.click("#lists >> text=法律法规和学校规定禁止的其他内容")
    assert "代考" in page.locator("#list-main").inner_text()

    page.fill("#add-main", "歌手大赛")
    page.click("#list-main button:has-text('添加')")
    assert "新增 1 条" in page.locator("#done").inner_text()
    assert "歌手大赛" in screening.rules().terms("other_prohibited")
    shot(page, "lexicon-added")

    page.fill("#q", "歌手")
    page.click("#search button")
    assert page.locator("#list-main td.entry").all_inner_texts() == ["歌手大赛"]
    page.click("#list-main button.remove")
    assert "删除 1 条" in page.locator("#done").inner_text()
    assert "歌手大赛" not in screening.rules().terms("other_prohibited")

    gbk = tmp_path / "whitelist-gbk.txt"
    gbk.write_bytes("# 本单位白名单\n抵制代考\n!!!\n".encode("gbk"))
    page.set_input_files("#file-allow", str(gbk))
    page.click("#list-allow button:has-text('导入')")
    done = page.locator("#done").inner_text()
    assert "新增 1 条" in done and "文件编码 GBK" in done
    assert "whitelist-gbk.txt 第 3 行: 「!!!」只有标点或空白,已跳过" in done
    shot(page, "lexicon-imported")
    assert "抵制代考" in screening.rules().terms("other_prohibited", allow=True)
    assert submitted(r, w, text="考场纪律:抵制代考").status == "in_review"

    with page.expect_download() as download:
        page.click("#export-allow")
    saved = tmp_path / "exported.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "other_prohibited.allow.txt"
    assert "抵制代考" in saved.read_text(encoding="utf-8").splitlines()

    page.click("text=全部词库与版本历史")
    history = page.locator("#history tbody tr").all_inner_texts()
    assert len(history) == 3 and "导入whitelist-gbk.txt(GBK)" in history[0]
    assert "宣传部张部长" in history[0] and "删除 1 条(歌手大赛)" in history[1]
    shot(page, "lexicon-history")
    records = list(audit.records(r, action="lexicon.edit"))
    assert [rec["via"] for rec in records] == ["console", "console"]


@pytest.mark.browser
def test_an_unreadable_file_is_refused_on_the_page(r, lexicons, site, page, tmp_path):
    w = world(r)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/lexicons/leaders")
    table = tmp_path / "leaders.txt"
    table.write_text("张建国 | 党委书记 | 1\n张建国 | 校长 | 2\n", encoding="gb18030")
    kept = (lexicons / "leaders.txt").read_bytes()
    page.set_input_files("#file-main", str(table))
    page.click("#list-main button:has-text('导入')")
    assert (
        page.locator("#main-error").inner_text() == "leaders.txt 第 2 行:姓名「张建国」重复,未导入"
    )
    assert (lexicons / "leaders.txt").read_bytes() == kept
    shot(page, "lexicon-refused")


def test_no_one_else_reads_or_changes_a_list(r, lexicons, settings):
    """An administrator signed in, with a valid CSRF token, is refused and audited."""
    w = world(r)
    client, token = signed_in(settings, r, w.admin)
    kept = (lexicons / "rumour.txt").read_bytes()
    for path in (
        "/console/lexicons",
        "/console/lexicons/rumour",
        "/console/lexicons/rumour/export",
    ):
        assert client.get(path).status_code == 403
    posted = client.post(
        "/console/lexicons/rumour/add", data={"csrf": token, "list": "main", "entry": "新谣言"}
    )
    assert posted.status_code == 403 and "只有宣传部审核人可以维护词库" in posted.data.decode()
    assert (lexicons / "rumour.txt").read_bytes() == kept
    assert not r.exists("qianfa:lexicon:history")
    refusals = list(audit.records(r, action=console_accounts.REFUSAL_ACTIONS[0]))
    assert [json.loads(rec["detail"])["path"] for rec in refusals][
        -1
    ] == "/console/lexicons/rumour/add"
    assert not list(audit.records(r, action="lexicon.edit"))


def test_a_forged_post_without_the_token_changes_nothing(r, lexicons, settings):
    w = world(r)
    client, _ = signed_in(settings, r, w.propaganda)
    kept = (lexicons / "rumour.txt").read_bytes()
    posted = client.post("/console/lexicons/rumour/add", data={"list": "main", "entry": "新谣言"})
    assert posted.status_code == 400 and (lexicons / "rumour.txt").read_bytes() == kept


def test_an_unknown_list_or_action_is_refused(r, lexicons, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    assert client.get("/console/lexicons/nonsense").status_code == 400
    assert client.get("/console/lexicons/typo/export?list=allow").status_code == 400
    data = {"csrf": token, "list": "main", "entry": "x"}
    assert client.post("/console/lexicons/rumour/delete-all", data=data).status_code == 404


def test_the_console_serves_its_style_sheets(r, settings):
    """The pages link console.css and console-print.css; both must be found."""
    w = world(r)
    client, _ = signed_in(settings, r, w.propaganda)
    for name in ("console.css", "console-print.css"):
        response = client.get(f"/console/static/{name}")
        assert response.status_code == 200 and response.mimetype == "text/css"
        response.close()
