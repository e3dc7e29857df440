"""The demo platform ``qianfa run`` registers: complete on the first start, unchanged after."""

from app.cli import demo
from app.core.masterkey import load_keyring
from app.registry import credentials, platforms
from sandbox.demo import DEMO_ACCOUNT
from tests.factories import snapshot


def test_demo_is_registered_once_and_prints_bind_codes(r, settings):
    """The first start registers everything; a second adds nothing but fresh bind codes."""
    keyring = load_keyring(settings)
    lines = demo.ensure(r, keyring, 3600)
    platform = platforms.get(r, demo.PLATFORM)
    assert platform.is_active and platform.appid == DEMO_ACCOUNT["appid"]
    assert all(
        state["set"]
        for name, state in credentials.status(r, "demo").items()
        if name != "forward_token"
    )
    assert sum("绑定 " in line for line in lines) == 2
    people_before = {k for k in snapshot(r) if b":person:" in k or b":unit:" in k}
    demo.ensure(r, keyring, 3600)
    assert {k for k in snapshot(r) if b":person:" in k or b":unit:" in k} == people_before
    assert len(platforms.all_platforms(r)) == 1


def test_demo_platform_matches_the_sandbox_demo_account():
    """Qianfa's demo is configured with the very account the sandbox serves, field by field."""
    import sandbox.demo

    for field, value in demo.DEMO_ACCOUNT.items():
        assert sandbox.demo.DEMO_ACCOUNT[field] == value, field
    sandbox_users = {user["openid"]: user["nickname"] for user in sandbox.demo.DEMO_USERS}
    for user in demo.DEMO_USERS:
        assert sandbox_users[user["openid"]] == user["nickname"]
