"""Idempotency keys: one effect per key and request, for 24 hours, per token."""

import pytest

from app.channels import idempotency
from app.core import keys
from app.core.errors import Conflict, InvalidInput, Unprocessable

REQUEST = {"platform": "jsj-wx", "kind": "text", "content": {"text": "正文"}}


def test_first_use_claims_the_key_and_a_retry_gets_the_stored_answer(r):
    """The answer is kept for 24 hours and replayed for the same request, whatever its key order."""
    assert idempotency.begin(r, "T1", "k", REQUEST) is None
    idempotency.finish(r, "T1", "k", REQUEST, 201, {"id": "D1"})
    stored = idempotency.begin(r, "T1", "k", dict(reversed(REQUEST.items())))
    assert stored == idempotency.Stored(201, {"id": "D1"})
    [name] = r.keys(keys.api_idempotency("T1", "*"))
    assert idempotency.KEEP_SECONDS - 5 < r.ttl(name) <= idempotency.KEEP_SECONDS


def test_a_retry_while_the_first_runs_is_told_to_wait(r):
    """A retry while the first request runs is a 409; the claim itself expires within a minute."""
    idempotency.begin(r, "T1", "k", REQUEST)
    with pytest.raises(Conflict) as waiting:
        idempotency.begin(r, "T1", "k", REQUEST)
    assert waiting.value.code == "idempotency_in_progress"
    [name] = r.keys(keys.api_idempotency("T1", "*"))
    assert r.ttl(name) <= idempotency.PENDING_SECONDS


def test_another_request_under_the_same_key_is_refused(r):
    """Another request under a used key is unprocessable."""
    idempotency.begin(r, "T1", "k", REQUEST)
    idempotency.finish(r, "T1", "k", REQUEST, 201, {"id": "D1"})
    with pytest.raises(Unprocessable):
        idempotency.begin(r, "T1", "k", {**REQUEST, "kind": "article"})


def test_keys_are_per_token_and_abandoned_keys_are_free(r):
    """Tokens do not share keys, and an abandoned key can be used again."""
    idempotency.begin(r, "T1", "k", REQUEST)
    assert idempotency.begin(r, "T2", "k", REQUEST) is None
    idempotency.abandon(r, "T1", "k")
    assert idempotency.begin(r, "T1", "k", {**REQUEST, "kind": "image"}) is None


@pytest.mark.parametrize("raw", [None, "", "a b", "x" * 256, "键"])
def test_malformed_keys_are_refused(raw):
    """A key must be 1-255 visible ASCII characters."""
    with pytest.raises(InvalidInput):
        idempotency.check_key(raw)
