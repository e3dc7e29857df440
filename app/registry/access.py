"""Roles and who may do what, decided from the roles stored in Redis.

Platform roles (administrator 管理员, first responsible person 第一责任人) are held on one
platform; college-wide roles (propaganda-department reviewer 宣传部审核人, leading-group
member 领导小组成员) everywhere. A grant is stored as ``role@platform`` or ``role`` in the
person's role set; ``people`` and ``platforms`` write them.
"""

import redis

from app.core import audit, keys
from app.core.errors import Forbidden

ADMIN = "admin"
RESPONSIBLE = "responsible"
PROPAGANDA = "propaganda"
LEADING_GROUP = "leading_group"
ROLES = {
    ADMIN: "管理员",
    RESPONSIBLE: "第一责任人",
    PROPAGANDA: "宣传部审核人",
    LEADING_GROUP: "领导小组成员",
}
PLATFORM_ROLES = (ADMIN, RESPONSIBLE)
COLLEGE_ROLES = (PROPAGANDA, LEADING_GROUP)


def grant_name(role: str, platform_id: str | None = None) -> str:
    return f"{role}@{platform_id}" if platform_id else role


def roles_on(grants: set[str], platform_id: str) -> tuple[str, ...]:
    """The roles that matter on this platform among a person's grants, platform roles first."""
    on_platform = [role for role in PLATFORM_ROLES if grant_name(role, platform_id) in grants]
    return tuple(on_platform + [role for role in COLLEGE_ROLES if role in grants])


def has_role(r: redis.Redis, person_id: str, role: str, platform_id: str | None = None) -> bool:
    return bool(r.sismember(keys.person_roles(person_id), grant_name(role, platform_id)))


def authorize(r: redis.Redis, actor: audit.Actor, roles: tuple[str, ...], what: str) -> None:
    """Let an operator at the server's shell through; a person needs one of ``roles``."""
    if actor.trusted:
        return
    if actor.person and any(has_role(r, actor.person, role) for role in roles):
        return
    raise Forbidden(f"只有{'或'.join(ROLES[role] for role in roles)}可以{what}")
