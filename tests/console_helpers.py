"""Helpers for console tests: a person with a password, a signed-in test client, a browser.

The browser is Debian's headless Chromium driven by Playwright; the fixtures ``browser``,
``site`` and ``page`` are shared through ``pytest_plugins`` in conftest.
"""

import re
from pathlib import Path

import pytest

from app.channels import console_accounts
from app.web import create_app
from tests.factories import OPERATOR
from tests.webhook_helpers import serve

PASSWORD = "correct-horse-battery"


def with_password(r, person_id: str, password: str = PASSWORD) -> str:
    console_accounts.set_password(r, OPERATOR, person_id, password)
    return person_id


def csrf_of(page: bytes | str) -> str:
    text = page.decode() if isinstance(page, bytes) else page
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def without_csrf(page: bytes | str) -> str:
    """The page with its CSRF tokens blanked, for asserting that a short id such as "D1" is
    not on it: a random token contains one now and then."""
    text = page.decode() if isinstance(page, bytes) else page
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf" value=""', text)


def client_for(settings):
    app = create_app(settings)
    app.testing = True
    return app.test_client()


def sign_in(client, person_id: str, password: str = PASSWORD):
    page = client.get("/console/signin")
    return client.post(
        "/console/signin",
        data={"person": person_id, "password": password, "csrf": csrf_of(page.data)},
    )


def signed_in(settings, r, person_id: str):
    """A test client signed in as ``person_id`` (who is given a password), with its CSRF token."""
    with_password(r, person_id)
    client = client_for(settings)
    response = sign_in(client, person_id)
    assert response.status_code == 302, response.data.decode()[:500]
    token = csrf_of(client.get("/console/dashboard").data)
    return client, token


CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, shared by a module's tests."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def site(settings):
    with serve(create_app(settings)) as base:
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True
    )
    opened = context.new_page()
    yield opened
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in_browser(page, site: str, person: str, password: str = PASSWORD) -> None:
    """Sign in through the console's own form, as a person does."""
    page.goto(f"{site}/console/")
    page.fill("#person", person)
    page.fill("#password", password)
    shot(page, "signin")
    page.click("button[type=submit]")
