"""Issue #17, metrics: ``/metrics`` of a running ``qianfa serve`` after real traffic.

Two waitress processes answer callbacks and chat commands; the scrape adds up both
processes' counters (prometheus-client's multiprocess mode) and reads the state from
Redis. It is parsed with prometheus_client's own parser. A stranger is refused.
"""

import hashlib
import secrets
from urllib.parse import urlencode

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.test_security_processes import CLIENT_TIMEOUT, web_server
from tests.webhook_helpers import PLATFORM, STAFF, signed, text

pytestmark = pytest.mark.slow

CALLBACKS = 6


def samples(body: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value, for every sample of a scrape."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_scrape_after_callbacks_and_commands_adds_up_both_web_processes(
    r, settings, staff, tmp_path
):
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    env = {"web_workers": 2, "metrics_token_sha256": digest}
    with web_server(tmp_path / "web.log", **env) as base:
        for i in range(CALLBACKS):  # a follower's message, then a bound staff member's 帮助
            params, payload = signed(text("你好" if i % 2 else "帮助", sender=STAFF))
            url = f"{base}/wechat/{PLATFORM}?{urlencode(params)}"
            assert requests.post(url, data=payload.encode(), timeout=CLIENT_TIMEOUT).ok
        forged = {"signature": "0" * 40, "timestamp": "1", "nonce": "x", "msg_signature": "0"}
        refused = requests.post(
            f"{base}/wechat/{PLATFORM}?{urlencode(forged)}", data=b"<xml/>", timeout=CLIENT_TIMEOUT
        )
        assert refused.status_code == 403

        scrape = requests.get(f"{base}/metrics", timeout=CLIENT_TIMEOUT)  # loopback, unproxied
        proxied = {"X-Forwarded-For": "203.0.113.7"}
        stranger = requests.get(f"{base}/metrics", headers=proxied, timeout=CLIENT_TIMEOUT)
        wrong = requests.get(
            f"{base}/metrics",
            headers={**proxied, "Authorization": "Bearer " + secrets.token_urlsafe(32)},
            timeout=CLIENT_TIMEOUT,
        )
        with_token = requests.get(
            f"{base}/metrics",
            headers={**proxied, "Authorization": f"Bearer {token}"},
            timeout=CLIENT_TIMEOUT,
        )
    assert scrape.status_code == 200, scrape.text
    assert (stranger.status_code, wrong.status_code) == (403, 403)
    assert "qianfa_" not in stranger.text + wrong.text
    assert with_token.status_code == 200
    found = samples(scrape.text)
    assert value(found, "qianfa_callbacks_total", result="accepted", reason="") == CALLBACKS
    assert value(found, "qianfa_callbacks_total", result="refused", reason="bad_signature") == 1
    assert value(found, "qianfa_chat_commands_total", command="help", outcome="ok") == 3
    assert value(found, "qianfa_redis_up") == 1
    assert value(found, "qianfa_audit_records") > 0
    assert value(found, "qianfa_queue_jobs", queue="publishing", state="queued") == 0
    assert ("qianfa_drafts", frozenset({("status", "in_review")})) in found
    # Both processes wrote their own files; the scrape added them up.
    assert len(list((settings.instance_dir / "metrics").glob("counter_*.db"))) >= 1
