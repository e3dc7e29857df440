"""A platform's suspension, resumption and closure, with what each does to its drafts (art. 17).

``change_status`` is the one way a channel changes a platform's status: the platform and
every draft ``EFFECTS`` names move in one transaction, each with its audit record, so the
authors and reviewers hear of it (``outbox.dispatch``). Suspending holds what is approved
(scheduled posts included: their run finds the draft held and refuses it); resuming sends
held drafts back to review with their sign-offs void, so nothing approved before a
suspension goes out without a new approval; closing withdraws every open draft.
"""

import redis

from app.core import audit, keys, validate
from app.core.store import Tx, atomically
from app.drafts import lifecycle, standing
from app.registry import access, platforms

# platform status entered -> {draft status: the draft's move}
EFFECTS = {
    platforms.SUSPENDED: {lifecycle.APPROVED: "hold"},
    platforms.ACTIVE: {lifecycle.HELD: "resume"},
    platforms.CLOSED: {status: "close" for status in lifecycle.OPEN},
}
WHY = {
    "hold": "平台 {pid} 已停用:{why}。停用期间暂停发布,恢复运行后须重新审核(第十七条)",
    "resume": "平台 {pid} 已恢复运行:停用前的签发作废,须重新审核(第十七条)",
    "close": "平台 {pid} 已关闭:{why}。稿件随之撤回(第十七条)",
}


def move_for(platform_status: str, draft_status: str) -> str:
    """The move a draft in ``draft_status`` makes on a platform in ``platform_status``."""
    return EFFECTS.get(platform_status, {}).get(draft_status, "")


def change_status(
    r: redis.Redis, actor: audit.Actor, raw_id: str, new_status: str, why: str
) -> tuple[platforms.Platform, list[lifecycle.Draft]]:
    """Suspend, resume or close a platform (art. 17) and move its drafts; both or neither."""
    access.authorize(r, actor, (access.PROPAGANDA, access.LEADING_GROUP), "改变平台状态")
    pid, new_status, why = platforms.status_change(raw_id, new_status, why)

    def change(tx: Tx) -> tuple[platforms.Platform, list[lifecycle.Draft]]:
        current = platforms.read_in(tx, pid)
        platforms.check_status_change(current, new_status)
        effects = EFFECTS.get(new_status, {})
        plans = [
            standing.plan_in(tx, draft, effects[draft.status])
            for draft in _drafts_in(tx, pid, effects)
        ]
        platform = platforms.write_status_in(tx, actor, current, new_status, why)
        told = {action: text.format(pid=pid, why=why) for action, text in WHY.items()}
        moved = [
            standing.apply_in(tx, actor, plan, told[plan.action][: validate.REASON_MAX])
            for plan in plans
        ]
        return platform, moved

    return atomically(r, [keys.platform(pid)], change)


def _drafts_in(tx: Tx, pid: str, effects: dict[str, str]) -> list[lifecycle.Draft]:
    """The platform's drafts in the statuses ``effects`` moves, from the listing indexes."""
    ids = [
        raw.decode()
        for status in effects
        for raw in tx.read.zrange(keys.drafts_in(status, pid), 0, -1)
    ]
    for did in ids:
        tx.watch(keys.draft(did))
    found = [lifecycle.read_in(tx, did) for did in dict.fromkeys(ids)]
    return [draft for draft in found if draft.status in effects]
