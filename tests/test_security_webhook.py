"""Issue #11, hole 2: downgrading a callback to plaintext, attacked over real HTTP.

Qianfa runs with the real chat commands in a werkzeug server on a free port; each test
sends what an attacker on the network could send and checks that nothing changed.
"""

import json

import pytest
import requests
from click.testing import CliRunner
from flask import Flask, request

from app.cli.base import cli
from app.core import alerts, audit, keys
from app.core.masterkey import load_keyring
from app.drafts import lifecycle, review
from app.registry import bindcodes, credentials
from app.web import create_app
from app.webhook import config as webhook_config
from sandbox.crypto import sign
from tests.factories import actor
from tests.sandbox_helpers import SAMPLE_TOKEN
from tests.webhook_helpers import (
    FOLLOWER,
    OPERATOR,
    PLATFORM,
    active_platform,
    app_with,
    bind,
    fresh,
    render,
    serve,
    set_mode,
    settings_with,
    signed,
    text,
    without_security,
)

REVIEWER = "oReviewer0000000000000000001"
ADMIN = "oAdmin000000000000000000001"
DOWNSTREAM_TOKEN = "downstream42"


@pytest.fixture
def college(r, settings):
    """A safe-mode platform whose responsible reviewer is bound, with one draft in review."""
    people = active_platform(r, settings)
    bind(r, PLATFORM, REVIEWER, people["responsible"])
    bind(r, PLATFORM, ADMIN, people["admin"])
    author = actor(people["admin"])
    draft = lifecycle.create(r, author, PLATFORM, "text", {"text": "计算机学院举办程序设计竞赛"})
    return {**people, "draft": lifecycle.submit(r, author, draft.id).id}


@pytest.fixture
def qianfa(settings, college):
    """Qianfa's callback URL for the platform, served over HTTP; a keep-alive session."""
    with serve(create_app(settings)) as base, requests.Session() as session:
        yield session, f"{base}/wechat/{PLATFORM}"


def undecided(r, draft_id: str) -> bool:
    found = review.state(r, draft_id)
    return found.draft.status == lifecycle.IN_REVIEW and not found.given


def refused_codes(r) -> list[str]:
    found = audit.records(r, action="webhook.refused", platform=PLATFORM)
    return [json.loads(rec["detail"])["code"] for rec in found]


def shown(response) -> str:
    """The text a plaintext reply puts on the user's phone."""
    return response.text.split("<Content><![CDATA[")[1].split("]]>")[0]


def test_get_check_signature_replayed_with_approve_body_is_refused(qianfa, college, r):
    """The server check's signature covers no body: replayed with "同意 D1" on a safe platform."""
    session, url = qianfa
    ts, nonce = fresh()
    check = {"signature": sign(SAMPLE_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert session.get(url, params={**check, "echostr": "4375120948"}).text == "4375120948"
    before = without_security(r)
    forged = render(text(f"同意 {college['draft']}", sender=REVIEWER)).encode()
    response = session.post(url, params=check, data=forged)
    assert (response.status_code, response.text) == (403, "mode_mismatch")
    assert without_security(r) == before
    assert undecided(r, college["draft"])
    assert refused_codes(r) == ["mode_mismatch"]


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_encryption_stripped_from_a_genuine_request_is_refused(qianfa, college, r, mode):
    """An attacker drops encrypt_type (and the Encrypt) from a real request: refused, 403."""
    session, url = qianfa
    set_mode(r, mode)
    params, body = signed(text(f"同意 {college['draft']}", sender=REVIEWER), mode)
    stripped = {k: v for k, v in params.items() if k not in ("encrypt_type", "msg_signature")}
    before = without_security(r)
    as_plaintext = render(text(f"同意 {college['draft']}", sender=REVIEWER)).encode()
    for forged in (as_plaintext, body.encode()):
        response = session.post(url, params=stripped, data=forged)
        assert (response.status_code, response.text) == (403, "mode_mismatch")
    assert without_security(r) == before
    assert undecided(r, college["draft"])
    assert refused_codes(r) == ["mode_mismatch", "mode_mismatch"]
    genuine = session.post(url, params=params, data=body.encode())  # still deliverable
    assert genuine.status_code == 200
    assert review.state(r, college["draft"]).given


def test_plaintext_platform_refuses_state_changes_but_answers_help(qianfa, college, r, settings):
    """In plaintext mode "同意", "投稿" and "绑定" get a polite reason; "帮助" and "状态" work."""
    session, url = qianfa
    set_mode(r, "plaintext")
    draft = college["draft"]
    code = bindcodes.issue(r, load_keyring(settings), OPERATOR, college["admin"], PLATFORM, 600)
    before = {key: r.dump(key) for key in r.keys("qianfa:draft*") + r.keys("qianfa:binding*")}
    for sender, words in [
        (REVIEWER, f"同意 {draft}"),
        (ADMIN, "投稿 伪造的通知"),
        (FOLLOWER, f"绑定 {code}"),
    ]:
        params, body = signed(text(words, sender=sender), "plaintext")
        response = session.post(url, params=params, data=body.encode())
        assert response.status_code == 200
        assert "明文模式下不接受会改变状态的指令" in shown(response)
        assert "请在公众平台改为安全模式" in shown(response)
    after = {key: r.dump(key) for key in r.keys("qianfa:draft*") + r.keys("qianfa:binding*")}
    assert after == before and undecided(r, draft)
    assert lifecycle.list_drafts(r) == [lifecycle.get(r, draft)]
    params, body = signed(text("帮助", sender=REVIEWER), "plaintext")
    help_text = shown(session.post(url, params=params, data=body.encode()))
    assert "状态 D编号" in help_text and "同意 D编号" not in help_text
    params, body = signed(text(f"状态 {draft}", sender=REVIEWER), "plaintext")
    assert f"稿件 {draft}" in shown(session.post(url, params=params, data=body.encode()))


class Downstream:
    """The account's earlier server: records what it is sent and answers "success"."""

    def __init__(self):
        self.received: list[dict] = []
        self.app = Flask("downstream")
        self.app.add_url_rule("/wx", "wx", self.handle, methods=["POST"])

    def handle(self):
        self.received.append({"args": request.args.to_dict(), "body": request.get_data()})
        return "success"


@pytest.fixture
def downstream():
    service = Downstream()
    with serve(service.app) as base:
        yield service, f"{base}/wx"


def verifies(token: str, args: dict, body: bytes) -> bool:
    """Whether ``token`` checks the forwarded request's signatures, as a downstream would."""
    ts, nonce = args["timestamp"], args["nonce"]
    ok = args["signature"] == sign(token, ts, nonce)
    if args.get("encrypt_type") == "aes":
        encrypt = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        ok = ok and args["msg_signature"] == sign(token, ts, nonce, encrypt)
    return ok


def test_forward_never_hands_the_platform_token_downstream(qianfa, downstream, r, settings):
    """Without its own token nothing is forwarded; with it, only that token verifies, never ours."""
    session, url = qianfa
    service, forward_url = downstream
    keyring = load_keyring(settings)
    with pytest.raises(Exception, match="原服务器自己的 Token"):
        webhook_config.configure(r, keyring, OPERATOR, PLATFORM, forward=forward_url)
    with pytest.raises(Exception, match="不能与本平台的 Token 相同"):
        webhook_config.configure(
            r, keyring, OPERATOR, PLATFORM, forward=forward_url, forward_token=SAMPLE_TOKEN
        )
    assert webhook_config.get(r, PLATFORM).forward_url == ""
    r.hset(keys.webhook_config(PLATFORM), "forward_url", forward_url)  # stored before the rule
    credentials.set_secret(r, keyring, OPERATOR, PLATFORM, "forward_token", SAMPLE_TOKEN)
    params, body = signed(text("课表"), "safe")
    assert session.post(url, params=params, data=body.encode()).text == "success"
    assert service.received == []
    webhook_config.configure(
        r, keyring, OPERATOR, PLATFORM, forward=forward_url, forward_token=DOWNSTREAM_TOKEN
    )
    for mode in ("safe", "plaintext"):
        set_mode(r, mode)
        params, body = signed(text("课表"), mode)
        assert session.post(url, params=params, data=body.encode()).status_code == 200
    assert len(service.received) == 2
    for got in service.received:
        assert verifies(DOWNSTREAM_TOKEN, got["args"], got["body"])
        assert not verifies(SAMPLE_TOKEN, got["args"], got["body"])


def test_mode_mismatch_counts_toward_the_forged_callback_alert(r, settings, college):
    """Downgrade attempts are counted as forged: a burst of them raises one alert."""
    tuned = settings_with(webhook_forged_alert=3)
    with serve(app_with(tuned)) as base, requests.Session() as session:
        for _ in range(4):
            params, body = signed(text(f"同意 {college['draft']}", sender=REVIEWER), "plaintext")
            response = session.post(f"{base}/wechat/{PLATFORM}", params=params, data=body)
            assert response.status_code == 403
    found = [a for a in alerts.recent(r) if a.kind == "forged_callbacks"]
    assert len(found) == 1 and found[0].platform == PLATFORM
    assert undecided(r, college["draft"])


def test_cli_sets_and_shows_the_message_mode(r, college):
    """`qianfa webhook set --mode` records the mode; `show` says it; a bad mode is one line."""
    runner = CliRunner()
    assert "安全模式(safe)" in runner.invoke(cli, ["webhook", "show", PLATFORM]).output
    done = runner.invoke(cli, ["webhook", "set", PLATFORM, "--mode", "plaintext"])
    assert done.exit_code == 0, done.output
    assert "明文模式(plaintext)" in done.output and "只接受只读命令" in done.output
    assert webhook_config.get(r, PLATFORM).mode == "plaintext"
    bad = runner.invoke(cli, ["webhook", "set", PLATFORM, "--mode", "none"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    no_token = runner.invoke(cli, ["webhook", "set", PLATFORM, "--forward-url", "https://a/wx"])
    assert no_token.exit_code == 1
    assert len(no_token.output.strip().splitlines()) == 1
    assert webhook_config.get(r, PLATFORM).forward_url == ""
    changes = [json.loads(rec["detail"]) for rec in audit.records(r, action="webhook.configure")]
    assert changes == [{"mode": "plaintext"}]


def test_console_platform_page_shows_the_message_mode(r, settings, college):
    """The platform page states the mode read-only, with the advice in plaintext mode."""
    from tests.console_helpers import signed_in

    client, _ = signed_in(settings, r, college["responsible"])
    page = client.get(f"/console/platforms/{PLATFORM}").text
    assert "安全模式" in page and "只接受只读命令" not in page
    set_mode(r, "plaintext")
    page = client.get(f"/console/platforms/{PLATFORM}").text
    assert "明文模式" in page and "只接受只读命令" in page
