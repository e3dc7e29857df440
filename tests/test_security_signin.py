"""Attacks on console sign-in and sessions, made over real HTTP against the running console.

Clients come from distinct loopback addresses (127.0.0.x), as strangers and users on
other machines would, or through a trusted proxy's X-Forwarded-For.
"""

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from requests.adapters import HTTPAdapter

from app.channels import console_accounts
from app.core import audit
from app.web import create_app
from app.web.console.auth import COOKIE, PRE_COOKIE
from tests.console_helpers import PASSWORD, csrf_of, with_password
from tests.factories import OPERATOR, world
from tests.webhook_helpers import serve

WRONG = "wrong-password-123"
NEW_PASSWORD = "a-brand-new-password"


class FromAddress(HTTPAdapter):
    """Connect from a chosen loopback address, so the console sees a distinct client."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source: str = "127.0.0.1", forwarded_for: str = "") -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(source))
    if forwarded_for:
        session.headers["X-Forwarded-For"] = forwarded_for
    return session


def sign_in(session, base: str, person: str, password: str = PASSWORD) -> requests.Response:
    form = session.get(f"{base}/console/signin")
    data = {"person": person, "password": password, "csrf": csrf_of(form.text)}
    return session.post(f"{base}/console/signin", data=data, allow_redirects=False)


def dashboard(session, base: str) -> requests.Response:
    return session.get(f"{base}/console/dashboard", allow_redirects=False)


def checks(r) -> int:
    """Password checks made: each is audited as a wrong password in these tests."""
    failed = audit.records(r, action="console.signin_failed")
    return sum(json.loads(rec["detail"])["why"] == "bad_password" for rec in failed)


@contextmanager
def console_at(settings, **changes):
    with serve(create_app(dataclasses.replace(settings, **changes))) as base:
        yield base


@pytest.fixture
def site(settings):
    with console_at(settings) as base:
        yield base


def test_a_strangers_fifty_wrong_passwords_do_not_lock_the_real_user_out(r, settings, site):
    w = world(r)
    with_password(r, w.propaganda)
    stranger = client("127.0.0.2")
    answers = [sign_in(stranger, site, w.propaganda, WRONG).status_code for _ in range(50)]
    assert answers.count(403) == settings.console_signin_attempts
    assert set(answers[settings.console_signin_attempts :]) == {429}
    user = client("127.0.0.3")
    assert sign_in(user, site, w.propaganda).status_code == 302
    assert dashboard(user, site).status_code == 200


def test_forty_parallel_wrong_passwords_get_exactly_the_allowed_checks(r, settings, site):
    w = world(r)
    with_password(r, w.propaganda)
    clients = [client("127.0.0.4") for _ in range(40)]
    forms = [csrf_of(c.get(f"{site}/console/signin").text) for c in clients]
    start = threading.Barrier(40)

    def attempt(n: int) -> int:
        start.wait()
        data = {"person": w.propaganda, "password": WRONG, "csrf": forms[n]}
        return clients[n].post(f"{site}/console/signin", data=data).status_code

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(attempt, range(40)))
    assert checks(r) == settings.console_signin_attempts
    assert answers.count(403) == settings.console_signin_attempts
    assert answers.count(429) == 40 - settings.console_signin_attempts


def test_behind_a_trusted_proxy_each_forwarded_client_is_limited_on_its_own(r, settings):
    w = world(r)
    with_password(r, w.propaganda)
    with console_at(settings, trusted_proxies=1, console_signin_address_attempts=3) as base:
        sprayer = client(forwarded_for="203.0.113.7")
        for n in range(3):
            assert sign_in(sprayer, base, f"P{90 + n}", WRONG).status_code == 403
        assert sign_in(sprayer, base, w.propaganda).status_code == 429
        user = client(forwarded_for="203.0.113.8")
        assert sign_in(user, base, w.propaganda).status_code == 302
    signed_in = list(audit.records(r, action="console.signin"))[-1]
    assert signed_in["operator"] == "203.0.113.8"


def test_without_trusted_proxies_a_forged_x_forwarded_for_is_ignored(r, settings):
    w = world(r)
    with_password(r, w.propaganda)
    with console_at(settings, console_signin_address_attempts=3) as base:
        for n in range(3):
            forged = client(forwarded_for=f"198.51.100.{n}")
            assert sign_in(forged, base, f"P{90 + n}", WRONG).status_code == 403
        forged = client(forwarded_for="198.51.100.99")
        assert sign_in(forged, base, w.propaganda).status_code == 429


def test_nine_hundred_bogus_cookie_and_csrf_less_requests_write_at_most_the_cap(r, settings):
    cap, window = 20, 3600
    limits = {"console_audit_refusals": cap, "console_refusal_window": window}
    before, _ = audit.head(r)
    started = int(time.time()) // window
    with console_at(settings, **limits) as base:

        def refused(n: int) -> int:
            if n % 2:
                cookies = {COOKIE: f"bogus-session-{n}"}
                return requests.get(
                    f"{base}/console/dashboard", cookies=cookies, allow_redirects=False
                ).status_code
            data = {"person": "P1", "password": WRONG}
            return requests.post(f"{base}/console/signin", data=data).status_code

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(refused, range(900)))
    windows = int(time.time()) // window - started + 1
    assert answers.count(302) == 450 and answers.count(400) == 450
    after, _ = audit.head(r)
    assert after - before <= cap * windows + (windows - 1)
    assert console_accounts.refusal_counts(r) == {"session_expired": 450, "csrf": 450}
    assert audit.verify(r).ok


def test_after_a_password_change_another_session_of_the_person_is_refused(r, site):
    w = world(r)
    with_password(r, w.responsible)
    laptop, phone = client("127.0.0.5"), client("127.0.0.6")
    assert sign_in(laptop, site, w.responsible).status_code == 302
    assert sign_in(phone, site, w.responsible).status_code == 302
    form = csrf_of(laptop.get(f"{site}/console/password").text)
    change = {"old_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    changed = laptop.post(
        f"{site}/console/password", data={**change, "csrf": form}, allow_redirects=False
    )
    assert changed.status_code == 302
    assert dashboard(laptop, site).status_code == 200
    assert "/console/signin" in dashboard(phone, site).headers["Location"]


def test_a_password_reset_by_the_propaganda_department_ends_the_persons_sessions(r, site):
    w = world(r)
    with_password(r, w.responsible)
    stolen = client("127.0.0.7")
    assert sign_in(stolen, site, w.responsible).status_code == 302
    console_accounts.set_password(r, OPERATOR, w.responsible, NEW_PASSWORD)
    assert "/console/signin" in dashboard(stolen, site).headers["Location"]


def test_a_planted_signin_token_and_session_cookie_are_not_kept_after_sign_in(r, site):
    w = world(r)
    with_password(r, w.responsible)
    victim = client("127.0.0.8")
    victim.cookies.set(PRE_COOKIE, "planted-form-token", domain="127.0.0.1", path="/console")
    form = csrf_of(victim.get(f"{site}/console/signin").text)
    assert form != "planted-form-token"
    assert victim.cookies.get(PRE_COOKIE, path="/console") == form

    # The attacker's own form, posted with the planted value in cookie and field alike.
    victim.cookies.set(PRE_COOKIE, "planted-form-token", domain="127.0.0.1", path="/console")
    data = {"person": w.responsible, "password": PASSWORD, "csrf": "planted-form-token"}
    assert victim.post(f"{site}/console/signin", data=data).status_code == 400

    earlier = client("127.0.0.8")  # someone signed in before, in the same browser
    assert sign_in(earlier, site, with_password(r, w.admin)).status_code == 302
    planted_session = earlier.cookies.get(COOKIE, path="/console")
    victim.cookies.set(COOKIE, planted_session, domain="127.0.0.1", path="/console")
    assert sign_in(victim, site, w.responsible).status_code == 302
    session = victim.cookies.get(COOKIE, path="/console")
    assert session != planted_session
    page = victim.get(f"{site}/console/dashboard").text
    assert csrf_of(page) not in ("planted-form-token", form)
    assert "/console/signin" in dashboard(earlier, site).headers["Location"]
