"""Helpers for console tests: a person with a password, and a signed-in test client."""

import re

from app import console, create_app
from tests.factories import OPERATOR

PASSWORD = "correct-horse-battery"


def with_password(r, person_id: str, password: str = PASSWORD) -> str:
    console.set_password(r, OPERATOR, person_id, password)
    return person_id


def csrf_of(page: bytes | str) -> str:
    text = page.decode() if isinstance(page, bytes) else page
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


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
