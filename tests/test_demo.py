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
    stored = credentials.status(r, "demo")
    assert all(stored[name]["set"] for name in demo.SECRETS)  # the back-office login stays unset
    assert set(demo.SECRETS) == {"app_secret", "token", "encoding_aes_key"}
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


def test_demo_registers_a_website_platform_on_the_sandbox_demo_site(r, settings):
    """Issue 16: beside the WeChat account, a website published on by hand and watched."""
    from app.registry import sites
    from sandbox import create_app
    from sandbox.demo import DEMO_SITE, install_site

    demo.ensure(r, load_keyring(settings), settings.bind_code_ttl)
    demo.ensure_website(r, 8100)
    before = snapshot(r)
    demo.ensure_website(r, 8100)
    assert snapshot(r) == before
    website = platforms.get(r, demo.WEBSITE)
    assert (website.kind, website.status, website.name) == ("website", "active", demo.WEBSITE_NAME)
    assert website.admins == platforms.get(r, demo.PLATFORM).admins
    sandbox_site = install_site(create_app().extensions["sandbox_sites"], "http://127.0.0.1:8100")
    assert sandbox_site["name"] == demo.WEBSITE_NAME and DEMO_SITE["kind"] == "website"
    registered = sites.get(r, demo.WEBSITE)
    assert registered.feed_url == sandbox_site["feed_url"]
    assert registered.owns(sandbox_site["home"] + "articles/1.html")
