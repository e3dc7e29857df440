"""Fifty conflicting operations on one draft at once leave it in one consistent state."""

import threading
from collections import Counter

import pytest

from app.core import audit
from app.core.errors import QianfaError
from app.drafts import lifecycle, review
from tests.factories import actor, submitted, world

ROUNDS = 3


def operations(w, draft_id: str, first_hash: str):
    def approve_as(person):
        return lambda r: review.approve(r, actor(person), draft_id, _seen(r, draft_id))

    def reject(r):
        return review.reject(r, actor(w.propaganda), draft_id, _seen(r, draft_id), "不宜发布")

    def withdraw(r):
        return lifecycle.withdraw(r, actor(w.admin), draft_id, "作者撤回")

    def edit(number):
        return lambda r: lifecycle.edit(r, actor(w.admin), draft_id, {"text": f"并发修改 {number}"})

    def stale_approve(r):
        return review.approve(r, actor(w.responsible), draft_id, first_hash)

    ops = [("approve", approve_as(w.responsible))] * 10 + [
        ("approve", approve_as(w.propaganda))
    ] * 10
    ops += [("reject", reject)] * 8 + [("withdraw", withdraw)] * 8
    ops += [("edit", edit(n)) for n in range(8)] + [("approve", stale_approve)] * 6
    assert len(ops) == 50
    return ops


def _seen(r, draft_id):
    """What a reviewer saw: the content hash at the moment they looked."""
    return lifecycle.get(r, draft_id).content_hash


def run_concurrently(r, ops):
    barrier = threading.Barrier(len(ops))
    outcomes = [None] * len(ops)

    def worker(index, op):
        barrier.wait()
        try:
            op(r)
            outcomes[index] = "ok"
        except QianfaError as exc:
            outcomes[index] = exc.code
        except Exception as exc:  # anything else is a bug the test must show
            outcomes[index] = f"crash: {exc!r}"

    threads = [threading.Thread(target=worker, args=(i, op)) for i, (_, op) in enumerate(ops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def replay(records: list[dict]) -> str:
    """Walk the draft's audit records through the transition table; fail on an illegal step."""
    status = "draft"
    for rec in records:
        action = rec["action"].removeprefix("draft.")
        if action in ("create", "screen"):  # neither moves the draft
            continue
        if action == "approve" and rec["decision"] == "in_review":
            assert status == "in_review", f"partial sign-off recorded in status {status}"
            continue
        assert lifecycle.TRANSITIONS.get((status, action)) == rec["decision"], (status, action, rec)
        status = rec["decision"]
    return status


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_fifty_conflicting_operations_leave_one_consistent_state(r, round_):
    """Approvals, rejections, withdrawals, edits and stale approvals racing end consistent."""
    w = world(r, tier=1)
    draft = submitted(r, w)
    ops = operations(w, draft.id, draft.content_hash)
    outcomes = run_concurrently(r, ops)

    assert not [o for o in outcomes if o is None or o.startswith("crash")], outcomes
    assert "ok" in outcomes and len(set(outcomes)) > 1, outcomes
    succeeded = Counter(kind for (kind, _), o in zip(ops, outcomes, strict=True) if o == "ok")
    final = lifecycle.get(r, draft.id)
    records = list(audit.records(r, draft=draft.id))

    assert audit.verify(r).ok
    assert replay(records) == final.status
    recorded = Counter(rec["action"].removeprefix("draft.") for rec in records)
    for kind in ("approve", "reject", "withdraw", "edit"):
        assert recorded[kind] == succeeded[kind], (kind, recorded, succeeded)
    assert succeeded["withdraw"] <= 1
    state = review.state(r, draft.id)
    assert all(s["content_hash"] == final.content_hash for s in state.given.values())
    if final.status == "approved":
        assert state.complete
    if final.status == "in_review":
        assert not state.complete
