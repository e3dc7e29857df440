import subprocess
import sys

from app.core.settings import load_settings
from app.web import create_app
from tests.conftest import free_port, wait_until


def test_healthz_reports_redis_workers_and_queues(r):
    """/healthz answers 200 with Redis reachable, the queues listed and no live worker."""
    client = create_app(load_settings()).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["redis"]["ok"] is True
    assert set(body["queues"]) == {"alerts", "publishing", "notifications", "pictures"}
    assert body["workers_alive"] == 0
    assert body["dispatchers_alive"] == 0
    assert body["status"] == "degraded"


def test_healthz_is_503_when_redis_is_unreachable():
    """With Redis down, /healthz says so with HTTP 503 instead of failing."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(load_settings({"QIANFA_REDIS_URL": dead}))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"]["ok"] is False


def test_worker_and_dispatcher_heartbeats_show_in_healthz(r, redis_url):
    """A running worker and dispatcher appear alive in /healthz; with both, status is ok."""
    worker = subprocess.Popen([sys.executable, "-m", "app", "worker"])
    dispatcher = None
    try:
        client = create_app(load_settings()).test_client()

        def idle_worker():
            body = client.get("/healthz").get_json()
            return body["workers_alive"] == 1 and body["workers"][0]["state"] == "idle"

        wait_until(idle_worker, message="the worker's heartbeat")
        assert client.get("/healthz").get_json()["status"] == "degraded"  # nothing dispatches
        dispatcher = subprocess.Popen([sys.executable, "-m", "app", "dispatcher"])
        wait_until(
            lambda: client.get("/healthz").get_json()["dispatchers_alive"] == 1,
            message="the dispatcher's heartbeat",
        )
        assert client.get("/healthz").get_json()["status"] == "ok"
    finally:
        for proc in (worker, dispatcher):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
