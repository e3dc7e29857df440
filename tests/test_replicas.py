"""Sentinel settings, and what a reviewer and the publisher are told when no replica
confirms a sign-off or a publication step in time (the test server has no replica, so
``QIANFA_REDIS_MIN_REPLICAS=1`` can never be met here; tests/test_redis_sentinel.py
has replicas)."""

import os

import pytest

from app.channels import chat
from app.core import anchors, audit
from app.core.errors import ConfigError, Unconfirmed
from app.core.redis import describe, get_redis
from app.core.settings import load_settings
from app.drafts import lifecycle, review
from app.publishing import schedule
from app.registry import bindcodes, platforms
from tests.console_helpers import signed_in
from tests.factories import KEYRING, OPERATOR, actor, submitted, world
from tests.publishing_helpers import approved, finish, publish_settings
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, SECRET

SENTINELS = "10.0.0.5:26379, 10.0.0.6:26379,[fd00::7]:26380"
UNCONFIRMED = {"QIANFA_REDIS_MIN_REPLICAS": "1", "QIANFA_REDIS_REPLICA_TIMEOUT": "0.05"}


def settings_of(**env) -> object:
    return load_settings({**os.environ, **env})


@pytest.fixture
def waiting():
    """Settings and a client that wait for one replica, on a server that has none."""
    settings = settings_of(**UNCONFIRMED)
    return settings, get_redis(settings)


def test_sentinel_settings_name_the_sentinels_and_the_service():
    settings = settings_of(
        QIANFA_REDIS_URL="",
        QIANFA_REDIS_SENTINELS=SENTINELS,
        QIANFA_REDIS_SERVICE="qianfa",
        QIANFA_REDIS_PASSWORD="s3cret-redis-password",
    )
    assert settings.redis_sentinels == (
        ("10.0.0.5", 26379),
        ("10.0.0.6", 26379),
        ("fd00::7", 26380),
    )
    assert describe(settings) == ("sentinel://10.0.0.5:26379,10.0.0.6:26379,fd00::7:26380/qianfa")
    assert "s3cret-redis-password" not in repr(settings)
    assert settings_of().redis_min_replicas == 0  # no replica configured: no waiting


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"QIANFA_REDIS_SENTINELS": "10.0.0.5"}, "QIANFA_REDIS_SENTINELS"),
        ({"QIANFA_REDIS_SENTINELS": "10.0.0.5:0"}, "QIANFA_REDIS_SENTINELS"),
        ({"QIANFA_REDIS_SENTINELS": "10.0.0.5:26379"}, "QIANFA_REDIS_SERVICE"),
        ({"QIANFA_REDIS_SERVICE": "qianfa"}, "QIANFA_REDIS_SERVICE"),
        ({"QIANFA_REDIS_PASSWORD": "x"}, "QIANFA_REDIS_PASSWORD"),
        ({"QIANFA_REDIS_MIN_REPLICAS": "-1"}, "QIANFA_REDIS_MIN_REPLICAS"),
        ({"QIANFA_REDIS_REPLICA_TIMEOUT": "soon"}, "QIANFA_REDIS_REPLICA_TIMEOUT"),
    ],
)
def test_a_bad_redis_setting_stops_with_one_line_naming_it(env, named):
    with pytest.raises(ConfigError) as refused:
        settings_of(QIANFA_REDIS_URL="", **env)
    assert named in refused.value.message and "\n" not in refused.value.message


def test_sentinels_and_a_url_together_are_refused():
    with pytest.raises(ConfigError, match="只能设置一个"):
        settings_of(QIANFA_REDIS_SENTINELS="10.0.0.5:26379", QIANFA_REDIS_SERVICE="qianfa")


def test_an_approval_no_replica_confirmed_is_not_reported_as_done(r, waiting):
    _, client = waiting
    w = world(r)
    draft = submitted(r, w)
    with pytest.raises(Unconfirmed) as caught:
        review.approve(client, actor(w.responsible), draft.id, draft.content_hash)
    assert "未能确认已同步到备用数据库" in caught.value.message
    assert caught.value.status == 503
    # Written on the master, where a second try finds it, and audited like any approval.
    assert [rec["draft"] for rec in audit.records(r, action="draft.approve")] == [draft.id]
    other = submitted(r, w, text="图书馆开放通知")
    with pytest.raises(Unconfirmed):
        review.reject(client, actor(w.responsible), other.id, other.content_hash, "标题有误")


def test_the_chat_tells_the_reviewer_the_approval_could_not_be_confirmed(r, waiting):
    _, client = waiting
    w = world(r)
    draft = submitted(r, w)
    openid = "oRespUnconfirmed00000001"
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.responsible, w.platform, ttl=600)
    bindcodes.redeem(r, KEYRING, w.platform, openid, code)
    message = chat.Inbound(
        openid=openid,
        type="text",
        person=w.responsible,
        authenticated=True,
        text=f"同意 {draft.id}",
    )
    reply = chat.respond(client, KEYRING, platforms.get(r, w.platform), message)
    assert "未能确认" in reply and "已同意" not in reply


def test_the_console_tells_the_reviewer_the_approval_could_not_be_confirmed(r, waiting):
    settings, _ = waiting
    w = world(r)
    draft = submitted(r, w)
    browser, token = signed_in(settings, r, w.responsible)
    form = {"csrf": token, "seen_hash": draft.content_hash, "decision": "approve"}
    response = browser.post(f"/console/drafts/{draft.id}", data=form)
    assert response.status_code == 503
    assert "未能确认已同步到备用数据库" in response.data.decode()


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        control.add_user(APPID, nickname="读者甲")
        yield url, control


def test_no_wechat_call_follows_a_publication_step_no_replica_confirmed(r, sandbox, w, pset):
    url, control = sandbox
    unconfirmed = publish_settings(url, redis_min_replicas=1, redis_replica_timeout=0.05)
    draft = approved(r, w)
    schedule.schedule(r, draft.id, settings=pset)
    outcome = schedule.run(get_redis(unconfirmed), draft.id, draft.version, settings=unconfirmed)
    assert outcome == "unconfirmed"
    assert control.account(APPID)["mass_sends"] == []  # nothing went out
    # The next run (a replica back, here: no waiting) resumes from the recorded step.
    assert finish(r, control, draft.id, pset) == "done"
    assert len(control.account(APPID)["mass_sends"]) == 1
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


def test_no_audit_anchor_vouches_for_a_record_no_replica_has(r, waiting, tmp_path):
    """An anchor of a record a failover may lose would contradict the promoted chain."""
    _, client = waiting
    audit.record(r, OPERATOR, "test.anchored")
    path = tmp_path / "anchors"
    with pytest.raises(Unconfirmed):
        anchors.anchor(client, path)
    assert not path.exists()
    assert anchors.anchor(r, path) is not None  # without waiting, it is written
