"""A small client of the control API, for tests and scripts that drive the sandbox.

Tests never sleep to let the sandbox work: they ``wait_until`` a condition read over the
control API holds, with a deadline.
"""

import time
from collections.abc import Callable
from typing import Any

import requests


class ControlError(RuntimeError):
    """The control API refused a request; the message is its (Chinese) explanation."""


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._http.trust_env = False

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self._http.request(
            method, f"{self.base_url}/sandbox/api{path}", json=body, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise ControlError(response.json().get("error", response.text))
        return response.json()

    def state(self) -> dict:
        return self._call("GET", "/state")

    def reset(self, seed: int = 0) -> dict:
        return self._call("POST", "/reset", {"seed": seed})

    def configure(self, **changes) -> dict:
        return self._call("PATCH", "/config", changes)

    def advance_clock(self, seconds: float) -> float:
        return self._call("POST", "/clock", {"advance": seconds})["now"]

    def flush_jobs(self) -> int:
        return self._call("POST", "/jobs/flush")["flushed"]

    def add_account(self, **settings) -> dict:
        return self._call("POST", "/accounts", settings)

    def account(self, appid: str) -> dict:
        return self._call("GET", f"/accounts/{appid}")

    def change_account(self, appid: str, **changes) -> dict:
        return self._call("PATCH", f"/accounts/{appid}", changes)

    def add_template(self, appid: str, **template) -> dict:
        return self._call("POST", f"/accounts/{appid}/templates", template)

    def add_user(self, appid: str, **user) -> dict:
        return self._call("POST", f"/accounts/{appid}/users", user)

    def user(self, appid: str, openid: str) -> dict:
        return self._call("GET", f"/accounts/{appid}/users/{openid}")

    def change_user(self, appid: str, openid: str, **changes) -> dict:
        return self._call("PATCH", f"/accounts/{appid}/users/{openid}", changes)

    def send(self, appid: str, openid: str, **message) -> dict:
        """Act as the user (``type="text", content=...`` or ``type="event", event=...``)."""
        return self._call("POST", f"/accounts/{appid}/users/{openid}/messages", message)

    def deliveries(self, appid: str) -> list[dict]:
        return self._call("GET", f"/accounts/{appid}/deliveries")

    def verify_server(self, appid: str) -> dict:
        return self._call("POST", f"/accounts/{appid}/verify")

    def add_site(self, site_id: str, kind: str = "website", name: str = "") -> dict:
        """A stand-in website or Weibo account (``sandbox.sites``)."""
        return self._call("POST", "/sites", {"id": site_id, "kind": kind, "name": name})

    def publish_item(self, site_id: str, **content) -> dict:
        """Publish by hand: ``title`` and ``html`` on a website, ``text`` on Weibo."""
        return self._call("POST", f"/sites/{site_id}/items", content)

    def edit_item(self, site_id: str, number: int, **content) -> dict:
        return self._call("PUT", f"/sites/{site_id}/items/{number}", content)

    def delete_item(self, site_id: str, number: int) -> dict:
        return self._call("DELETE", f"/sites/{site_id}/items/{number}")

    def add_fault(self, **rule) -> dict:
        return self._call("POST", "/faults", rule)

    def clear_faults(self, seed: int | None = None) -> None:
        self._call("DELETE", "/faults", {} if seed is None else {"seed": seed})

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def backoffice_publish(self, appid: str, **article) -> dict:
        """Publish as an administrator would in the MP back office, bypassing Qianfa."""
        return self._call("POST", f"/accounts/{appid}/backoffice/articles", article)

    def backoffice_mass(self, appid: str, **message) -> dict:
        return self._call("POST", f"/accounts/{appid}/backoffice/mass", message)

    def backoffice_edit(self, appid: str, article_id: str, **changes) -> dict:
        return self._call("PATCH", f"/accounts/{appid}/backoffice/articles/{article_id}", changes)

    def backoffice_delete(self, appid: str, article_id: str, index: int = 0) -> dict:
        path = f"/accounts/{appid}/backoffice/articles/{article_id}"
        return self._call("DELETE", path, {"index": index})

    def wait_until(
        self, condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        """Poll ``condition`` until it returns something truthy; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"沙箱在 {timeout} 秒内没有达到:{what}")
            time.sleep(0.02)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no job or callback is under way."""
        self.wait_until(lambda: self.state()["busy"] == 0, timeout, "所有任务完成")
