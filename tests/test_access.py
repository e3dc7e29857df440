"""Who may change the registry: decided from stored roles, never from what a client claims."""

import pytest

from app.core import audit
from app.core.errors import Forbidden
from app.drafts import suspension
from app.registry import bindcodes, owners, people, units
from tests.factories import KEYRING, OPERATOR, actor, snapshot, world


def test_operators_at_the_shell_and_propaganda_reviewers_manage_the_registry(r):
    """The CLI operator and a propaganda reviewer may register units and people."""
    w = world(r)
    units.create(r, actor(w.propaganda), "信息中心", "information_centre")
    assert people.create(r, actor(w.propaganda), "新管理员").name == "新管理员"


@pytest.mark.parametrize(
    "attempt",
    [
        lambda r, a, w: units.create(r, a, "外部单位", "other"),
        lambda r, a, w: people.create(r, a, "冒名者"),
        lambda r, a, w: people.grant_college_role(r, a, w.admin, "propaganda"),
        lambda r, a, w: suspension.change_status(r, a, w.platform, "suspended", "越权"),
        lambda r, a, w: owners.set_responsible(r, a, w.platform, w.admin, "越权"),
        lambda r, a, w: owners.add_admin(r, a, w.platform, w.propaganda, "越权"),
        lambda r, a, w: bindcodes.issue(r, KEYRING, a, w.admin, w.platform, 3600),
    ],
)
def test_platform_roles_do_not_reach_the_registry(r, attempt):
    """A responsible person or administrator cannot change the registry, and nothing is written."""
    w = world(r)
    before = snapshot(r)
    for person in (w.responsible, w.admin):
        with pytest.raises(Forbidden):
            attempt(r, actor(person), w)
    assert snapshot(r) == before


def test_a_claimed_channel_does_not_grant_trust(r):
    """An actor claiming to be a person on the console is checked against that person's roles."""
    w = world(r)
    forged = audit.Actor(via="console", person=w.admin, operator="propaganda")
    with pytest.raises(Forbidden, match="宣传部审核人"):
        units.create(r, forged, "伪造", "other")


def test_leading_group_may_suspend_but_not_register(r):
    """Art. 17: a leading-group member may order a platform suspended, but files no platforms."""
    w = world(r)
    member = people.create(r, OPERATOR, "领导小组成员")
    people.grant_college_role(r, OPERATOR, member.id, "leading_group")
    suspended, _ = suspension.change_status(
        r, actor(member.id), w.platform, "suspended", "第十七条"
    )
    assert suspended.status == "suspended"
    with pytest.raises(Forbidden):
        units.create(r, actor(member.id), "单位", "other")


def test_an_actor_built_from_request_data_is_never_trusted(r):
    """Claiming the shell's or the system's channel does not make an actor trusted."""
    w = world(r)
    for via in ("cli", "system"):
        claimed = audit.Actor(via=via, operator="root")
        with pytest.raises(Forbidden):
            units.create(r, claimed, f"伪造-{via}", "other")
        with pytest.raises(Forbidden):
            suspension.change_status(r, claimed, w.platform, "closed", "伪造")
