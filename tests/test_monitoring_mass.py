"""Mass sends made in the MP back office (art. 14): WeChat reports them only with
MASSSENDJOBFINISH, which comes back through Qianfa's webhook. One whose msg_id Qianfa
did not record raises one ``unreviewed_publication`` and starts a reconciliation at once;
Qianfa's own mass send raises nothing."""

import pytest

from app.core import alerts, audit, keys
from app.core.masterkey import load_keyring
from app.publishing import schedule
from app.registry import credentials
from app.web import create_app
from tests.conftest import wait_until
from tests.factories import OPERATOR
from tests.notify_helpers import office
from tests.publishing_helpers import approved, finish
from tests.sandbox_helpers import running_sandbox
from tests.webhook_helpers import ORIGINAL_ID, serve
from tests.wechat_helpers import APPID
from workers import jobs

AES = "MassEncodingAesKey0123456789abcdefghijklmnop"[:43]


@pytest.fixture
def wired(r, monkeypatch):
    """The sandbox account calls Qianfa's webhook in safe mode; Qianfa calls its API."""
    with running_sandbox() as (url, control, _):
        o = office(r, control, monkeypatch, url)
        keyring = load_keyring(o.settings)
        credentials.set_secret(r, keyring, OPERATOR, o.w.platform, "token", "masstoken")
        credentials.set_secret(r, keyring, OPERATOR, o.w.platform, "encoding_aes_key", AES)
        with serve(create_app(o.settings)) as qianfa:
            control.change_account(
                APPID,
                token="masstoken",
                encoding_aes_key=AES,
                encrypt_mode="safe",
                original_id=ORIGINAL_ID,
                server_url=f"{qianfa}/wechat/{o.w.platform}",
            )
            yield o


def unreviewed(r) -> list[alerts.Alert]:
    return [a for a in alerts.recent(r, 100) if a.kind == "unreviewed_publication"]


def events_arrived(r, count: int) -> None:
    wait_until(lambda: r.xlen(keys.publish_events()) >= count, message="MASSSENDJOBFINISH")


def test_a_backoffice_mass_send_raises_one_alert_and_qianfas_own_none(wired):
    o = wired
    draft = approved(o.r, o.w, "text", text="计算机学院举办程序设计竞赛")
    schedule.schedule(o.r, draft.id, settings=o.settings)
    assert finish(o.r, o.control, draft.id, o.settings) == "done"
    events_arrived(o.r, 1)
    o.settle()
    assert unreviewed(o.r) == []

    o.control.backoffice_mass(APPID, content="未经审核的后台群发")
    events_arrived(o.r, 2)
    o.settle()
    [alert] = unreviewed(o.r)
    assert alert.platform == o.w.platform and alert.detail["mass"] is True
    assert "后台群发" in alert.message and "第十四条" in alert.message
    said = [
        rec for rec in audit.records(o.r) if rec["action"] == "monitoring.unreviewed_publication"
    ]
    assert len(said) == 1 and said[0]["detail"]
    # The round it started ran at once (the platform's monitoring state says so).
    assert o.r.hget(keys.monitoring(o.w.platform), "last_round")


def test_a_repeated_mass_send_event_raises_no_second_alert(wired):
    o = wired
    o.control.backoffice_mass(APPID, title="后台群发的图文", content="<p>直接群发</p>")
    events_arrived(o.r, 1)
    o.settle()
    [alert] = unreviewed(o.r)
    assert alert.detail["url"].startswith("https://mp.weixin.qq.com/")
    # WeChat's retry of the same event is answered from the dedup claim and changes nothing;
    # the worker running the same event again (an RQ retry) raises nothing either.
    [(event_id, _)] = o.r.xrange(keys.publish_events())
    jobs.publish_finished(event_id.decode())
    o.settle()
    assert len(unreviewed(o.r)) == 1
