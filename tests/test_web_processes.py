"""`qianfa serve`'s web processes under load: connections shared evenly, warnings kept short.

The first test starts `qianfa serve` as the Procfile does and reads from /proc which of
its processes holds each connection; the second fills the task queue of the waitress
server `qianfa serve` builds.
"""

import http.client
import logging
import os
import socket
import subprocess
import threading

import pytest

from app.cli import processes
from app.cli.balance import Balance
from app.core import logs
from tests.conftest import free_port, wait_until
from tests.test_security_processes import listening, qianfa_process

CONNECTIONS = 20


def established(port: int) -> set[str]:
    """Socket inodes of the server side of connections to ``port`` on loopback (IPv4)."""
    found = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
            if local_port == port and state == "01":
                found.add(inode)
    return found


def serving(parent: int, count: int) -> list[int] | None:
    """The ``count`` web processes of ``parent`` once each waits in its loop's poll()."""
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    children = [int(pid) for pid in found.stdout.split()]
    if len(children) != count:
        return None
    for child in children:
        with open(f"/proc/{child}/wchan") as wchan:
            if "poll" not in wchan.read():
                return None
    return children


def held_by(pid: int, inodes: set[str]) -> int:
    """How many of ``inodes`` process ``pid`` has open."""
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


@pytest.mark.slow
def test_keep_alive_connections_are_shared_evenly_by_the_web_processes(r, tmp_path):
    """Twenty keep-alive connections, opened one after another: after each, the two
    processes hold as many or one apart.

    On one shared socket the process that polled first took them, often twice the other's
    share, and under load its callers waited in proportion.
    """
    port = free_port()
    with qianfa_process(tmp_path / "web.log", "serve", port=port, web_workers=2) as proc:
        wait_until(lambda: listening(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, (tmp_path / "web.log").read_text()
        children = wait_until(lambda: serving(proc.pid, 2), message="two web processes")
        connections, seen = [], []
        try:
            for _ in range(CONNECTIONS):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/healthz")
                assert conn.getresponse().status == 200
                connections.append(conn)
                inodes = established(port)
                seen.append([held_by(child, inodes) for child in children])
        finally:
            for conn in connections:
                conn.close()
    assert all(sum(shares) == n + 1 for n, shares in enumerate(seen)), seen
    assert all(max(shares) - min(shares) <= 1 for shares in seen), seen


def woken(balance: Balance, index: int) -> bool:
    """Whether process ``index``'s wake pipe holds a byte (read, so the next check is fresh)."""
    read = balance.wakes[index][0]
    os.set_blocking(read, False)
    try:
        return bool(os.read(read, 4096))
    except BlockingIOError:
        return False


def test_only_the_process_holding_fewest_offers_and_one_that_looked_too_early_is_woken():
    """Three processes holding 12, 11 and 10 connections: only the third offers, and
    nobody is woken over and over (each wake costs the woken process a turn of its loop).
    When the one holding fewest looked while it did not (the others grew since), the
    others wake it, so a connection never waits for a process that stood back."""
    balance = Balance(3)
    assert balance.offers(2, 10) is True
    assert balance.offers(0, 12) is False and balance.offers(1, 11) is False
    assert balance.offers(0, 12) is False  # the next turn: 11 is fewer, but 10 offers
    assert not any(woken(balance, index) for index in range(3))

    balance = Balance(2)
    assert balance.offers(0, 5) is True and balance.offers(1, 6) is False  # 1 looked at 0
    assert balance.offers(0, 7) is False  # 0 accepted two more: 1 holds fewest, not offering
    assert woken(balance, 1) and not woken(balance, 0)
    assert balance.offers(1, 6) is True  # woken, it looks again and offers


class Held:
    """A task that keeps its thread until released, as a slow request would."""

    def __init__(self, release: threading.Event):
        self.release = release

    def service(self):
        self.release.wait(10)

    def cancel(self):
        pass


def test_waitress_says_once_that_requests_queue_not_once_per_request(settings, caplog):
    """With every thread busy, each new request made waitress warn "Task queue depth";
    under load that was every callback (a tenth of the web process's CPU). One line a
    minute tells an operator the same."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = processes.web_server(settings, app=lambda environ, start: [], sockets=[sock])
    dispatcher, release = server.task_dispatcher, threading.Event()
    caplog.set_level(logging.WARNING, logger="waitress.queue")
    try:
        for _ in range(50):
            dispatcher.add_task(Held(release))
    finally:
        release.set()
        dispatcher.shutdown(timeout=10)
        server.close()
    warned = [rec for rec in caplog.records if rec.name == "waitress.queue"]
    assert len(warned) == 1 and "Task queue depth" in warned[0].getMessage()


def test_the_next_minute_says_how_many_warnings_were_held_back(caplog):
    """After the quiet minute, the next warning passes and counts those held back."""
    moments = iter([0.0, 10.0, 20.0, 61.0])
    queue = logs.Throttled(logging.getLogger("qianfa.test.queue"), 60, clock=lambda: next(moments))
    caplog.set_level(logging.WARNING, logger="qianfa.test.queue")
    for depth in (1, 2, 3, 4):
        queue.warning("Task queue depth is %d", depth)
    said = [rec.getMessage() for rec in caplog.records if rec.name == "qianfa.test.queue"]
    assert said == ["Task queue depth is 1", "Task queue depth is 4 (2 more in the last 60 s)"]
