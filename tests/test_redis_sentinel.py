"""Redis under Sentinel: 1 master, 1 replica and 3 sentinels on loopback. Qianfa's web
process, a worker and the dispatcher find the master through the sentinels; people submit
and approve in WeChat (the sandbox) while the master is SIGKILLed. Every sign-off a reviewer
was told about survives the failover, the audit chain verifies, and work carries on."""

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from redis.sentinel import Sentinel

from app.core import audit, keys
from app.core.errors import Unconfirmed
from app.core.masterkey import load_keyring
from app.core.redis import get_redis
from app.core.replicas import confirm
from app.core.settings import load_settings
from app.drafts import lifecycle, review
from app.registry import bindcodes, credentials
from tests.conftest import free_port, redis_server_binary, wait_until
from tests.factories import OPERATOR, world
from tests.publishing_helpers import publish_env
from tests.sandbox_helpers import running_sandbox
from tests.webhook_helpers import ORIGINAL_ID
from tests.wechat_helpers import APPID, SECRET

pytestmark = pytest.mark.slow

SERVICE = "qianfa"
TOKEN, AES_KEY = "sentineltoken", "SentinelEncodingAesKey0123456789abcdefghijk"[:43]
# A master is down after 1 s without an answer; a failover may take 5 s before another try.
SENTINEL_CONFIG = """port {port}
bind 127.0.0.1
dir {dir}
sentinel monitor {service} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {service} 1000
sentinel failover-timeout {service} 5000
sentinel parallel-syncs {service} 1
"""
RESUME_WITHIN = 30  # seconds: the liveness bound of the issue, not a measure of speed


class Node:
    """One redis-server of the test's own: a data node with AOF, or a sentinel."""

    def __init__(self, workdir: Path, name: str):
        self.port, self.dir = free_port(), workdir / name
        self.dir.mkdir()
        self.args: list[str] = []
        self.proc = None

    def data(self, replica_of: "Node | None" = None) -> "Node":
        self.args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        self.args += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
        self.args += ["--repl-diskless-sync-delay", "0"]  # a replica syncs at once
        if replica_of:
            self.args += ["--replicaof", "127.0.0.1", str(replica_of.port)]
        return self

    def sentinel(self, master: "Node") -> "Node":
        config = self.dir / "sentinel.conf"
        values = {"port": self.port, "dir": self.dir, "service": SERVICE, "master": master.port}
        config.write_text(SENTINEL_CONFIG.format(**values))
        self.args = [str(config), "--sentinel"]
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self) -> None:
        self.proc = subprocess.Popen([redis_server_binary(), *self.args], stdout=subprocess.DEVNULL)
        wait_until(self._answers, message=f"redis-server on {self.port} to answer PING")

    def _answers(self) -> bool:
        try:
            with self.client() as probe:
                return probe.ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown, no last words to the replica
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, asked again while redis refuses it ("Writing initial AOF, can't exit"
        right after a replica's first sync); SIGKILL if it never goes."""
        for _ in range(20):
            if not self.proc or self.proc.poll() is not None:
                return
            self.proc.terminate()
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
        self.proc.kill()
        self.proc.wait(timeout=10)


@dataclass
class Cluster:
    master: Node
    replica: Node
    sentinels: list[Node]

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)

    def master_port(self) -> int | None:
        found = Sentinel([("127.0.0.1", n.port) for n in self.sentinels], socket_timeout=1)
        try:
            return found.discover_master(SERVICE)[1]
        except redis.RedisError:
            return None

    def watched(self) -> bool:
        """Every sentinel knows the replica and the two other sentinels (for a quorum)."""
        for node in self.sentinels:
            with node.client() as s:
                if not s.sentinel_slaves(SERVICE) or len(s.sentinel_sentinels(SERVICE)) < 2:
                    return False
        return True

    def nodes(self) -> list[Node]:
        return [self.master, self.replica, *self.sentinels]


def replicated(node: Node) -> bool:
    """Whether ``node`` is a master with a replica online."""
    with node.client() as c:
        info = c.info("replication")
    return info["role"] == "master" and info.get("slave0", {}).get("state") == "online"


@pytest.fixture
def cluster(tmp_path):
    master = Node(tmp_path, "master").data()
    replica = Node(tmp_path, "replica").data(replica_of=master)
    found = Cluster(master, replica, [Node(tmp_path, f"sentinel{i}") for i in range(3)])
    for node in found.sentinels:
        node.sentinel(master)
    try:
        for node in found.nodes():
            node.start()
        wait_until(lambda: replicated(master), timeout=20, message="the replica in sync")
        wait_until(found.watched, timeout=30, message="the sentinels to find each other")
        yield found
    finally:
        for node in found.nodes():
            node.stop()


@dataclass
class Phones:
    """The sandbox WeChat: the administrator submits, the responsible person approves."""

    control: object
    openids: dict[str, str]
    acknowledged: list[str] = field(default_factory=list)  # told 已同意
    submitted: list[str] = field(default_factory=list)  # told 已提交
    unconfirmed: list[str] = field(default_factory=list)  # told 未能确认

    def say(self, person: str, words: str) -> str:
        delivery = self.control.send(APPID, self.openids[person], type="text", content=words)
        return (delivery.get("reply") or {}).get("Content", "") if delivery else ""

    def submit_and_approve(self, number: int) -> None:
        found = re.search(r"已提交稿件 (D\d+)", self.say("admin", f"投稿 值班通知第 {number} 号"))
        if not found:
            return
        did = found.group(1)
        self.submitted.append(did)
        answer = self.say("responsible", f"同意 {did}")
        if f"已同意稿件 {did}" in answer:
            self.acknowledged.append(did)
        elif "未能确认" in answer:
            self.unconfirmed.append(did)


def run_traffic(phones: Phones, go: threading.Event, stop: threading.Event, idle) -> None:
    number = 0
    while not stop.is_set():
        if not go.wait(timeout=0.1):
            idle.set()
            continue
        idle.clear()
        number += 1
        phones.submit_and_approve(number)
    idle.set()


def spawn(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env)


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).json()["status"] == "ok"
    except (requests.RequestException, ValueError):
        return False


def office(r, settings, control, web: str):
    """The platform on the sandbox account, its secrets sealed, two staff bound."""
    w = world(r, appid=APPID)
    keyring = load_keyring(settings)
    for name, value in (("app_secret", SECRET), ("token", TOKEN), ("encoding_aes_key", AES_KEY)):
        credentials.set_secret(r, keyring, OPERATOR, w.platform, name, value)
    control.add_account(appid=APPID, secret=SECRET)
    control.change_account(
        APPID,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        encrypt_mode="safe",
        original_id=ORIGINAL_ID,
        server_url=f"{web}/wechat/{w.platform}",
    )
    openids = {}
    for role, person in (("admin", w.admin), ("responsible", w.responsible)):
        openids[role] = control.add_user(APPID, nickname=role, role="staff")["openid"]
        code = bindcodes.issue(r, keyring, OPERATOR, person, w.platform, 3600)
        bindcodes.redeem(r, keyring, w.platform, openids[role], code)
    return w, openids


def test_acknowledged_sign_offs_survive_a_failover_and_work_carries_on(cluster, tmp_path):
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    with running_sandbox(callback_timeout=5.0) as (sandbox_url, control, _):
        env = {
            **os.environ,
            **publish_env(sandbox_url),
            "QIANFA_REDIS_URL": "",
            "QIANFA_REDIS_SENTINELS": cluster.addresses,
            "QIANFA_REDIS_SERVICE": SERVICE,
            "QIANFA_REDIS_MIN_REPLICAS": "1",
            "QIANFA_PORT": str(port),
            "QIANFA_WEB_WORKERS": "1",
            "QIANFA_AUDIT_ANCHOR_FILE": str(tmp_path / "audit-anchors"),
        }
        settings = load_settings(env)
        r = get_redis(settings)  # found through the sentinels, as every process finds it
        w, openids = office(r, settings, control, web)
        phones = Phones(control, openids)
        processes = [spawn(env, "serve"), spawn(env, "worker"), spawn(env, "dispatcher")]
        go, stop, idle = threading.Event(), threading.Event(), threading.Event()
        traffic = threading.Thread(target=run_traffic, args=(phones, go, stop, idle))
        try:
            wait_until(lambda: healthy(web), timeout=30, message="web, worker and dispatcher")
            traffic.start()
            go.set()
            wait_until(lambda: len(phones.acknowledged) >= 5, timeout=60, message="approvals")

            cluster.master.kill()
            killed_at = len(phones.submitted)
            promoted = cluster.replica.port
            wait_until(lambda: cluster.master_port() == promoted, timeout=RESUME_WITHIN)
            wait_until(
                lambda: len(phones.submitted) > killed_at + 1,
                timeout=RESUME_WITHIN,
                message="submissions to resume on the new master",
            )

            # The new master has no replica yet: an approval is written but not acknowledged.
            go.clear()
            wait_until(idle.is_set, timeout=30, message="the traffic to pause")
            before = len(phones.unconfirmed)
            phones.submit_and_approve(10_000)
            assert len(phones.unconfirmed) == before + 1, phones.say("responsible", "待审")

            # The old master comes back as the new master's replica, as its operator restarts
            # it (left alone, the sentinels would convert it within about 10 s).
            cluster.master.data(replica_of=cluster.replica).start()
            wait_until(lambda: replicated(cluster.replica), timeout=RESUME_WITHIN)
            after_failover = len(phones.acknowledged)
            go.set()
            wait_until(
                lambda: len(phones.acknowledged) >= after_failover + 5,
                timeout=RESUME_WITHIN,
                message="confirmed approvals after the failover",
            )
            stop.set()
            traffic.join(timeout=60)

            check_acknowledged(r, phones, w.responsible)
            last = phones.acknowledged[-1]
            wait_until(
                lambda: lifecycle.get(r, last).status == lifecycle.PUBLISHED,
                timeout=60,
                message=f"{last}, approved after the failover, to be published",
            )
            wait_until(lambda: healthy(web), timeout=30, message="the processes to report in")
            assert all(proc.poll() is None for proc in processes)  # all carried on
            # The CLI finds the new master too.
            verified = subprocess.run(
                [sys.executable, "-m", "app", "audit", "verify"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert verified.returncode == 0 and "审计链完整" in verified.stdout, verified.stderr
        finally:
            stop.set()
            go.set()
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.wait(timeout=30)


def check_acknowledged(r, phones: Phones, reviewer: str) -> None:
    """Every sign-off a reviewer was told about, and its audit record, is on the new master."""
    assert audit.verify(r).ok
    approvals = {
        rec["draft"]
        for rec in audit.records(r, action="draft.approve")
        if rec["person"] == reviewer
    }
    submits = {rec["draft"] for rec in audit.records(r, action="draft.submit")}
    assert set(phones.acknowledged) <= approvals
    assert set(phones.submitted) <= submits
    for did in phones.acknowledged:
        state = review.state(r, did)
        assert state.given["responsible"]["person"] == reviewer, did


def test_a_replica_confirms_only_a_change_the_master_still_has(tmp_path):
    """WAIT is answered for the probe written after the change; the change's audit record
    read back on the same connection rules out a master that lost it in between."""
    master = Node(tmp_path, "master").data()
    replica = Node(tmp_path, "replica").data(replica_of=master)
    try:
        master.start()
        replica.start()
        wait_until(lambda: replicated(master), timeout=20, message="the replica in sync")
        url = f"redis://127.0.0.1:{master.port}/0"
        env = {**os.environ, "QIANFA_REDIS_URL": url, "QIANFA_REDIS_MIN_REPLICAS": "1"}
        r = get_redis(load_settings(env))
        record = audit.record(r, OPERATOR, "test.durable")
        [(entry, _)] = r.xrevrange(keys.audit_stream(), count=1)
        confirm(r, "测试", entry, record["hash"])  # on the master and on the replica
        with pytest.raises(Unconfirmed):
            confirm(r, "测试", entry, "0" * 64)  # not the record that was written
        with pytest.raises(Unconfirmed):
            confirm(r, "测试", b"1-1", record["hash"])  # not there at all
    finally:
        replica.stop()
        master.stop()


def test_a_worker_idle_under_sentinel_stops_at_once_on_sigterm(cluster):
    """SIGTERM interrupts the worker's BLPOP; the connection it was read on must not go back
    to the pool with that BLPOP pending, or RQ's ``register_death`` waits out the BLPOP's
    timeout (minutes) behind it and the deployment's stop times out."""
    env = {
        **os.environ,
        "QIANFA_REDIS_URL": "",
        "QIANFA_REDIS_SENTINELS": cluster.addresses,
        "QIANFA_REDIS_SERVICE": SERVICE,
    }
    r = get_redis(load_settings(env))
    worker = spawn(env, "worker", "--without-scheduler")
    try:
        wait_until(lambda: blocked_in_blpop(r), timeout=30, message="the worker waiting for jobs")
        worker.terminate()
        assert worker.wait(timeout=20) == 0
        assert not r.smembers("rq:workers")  # it registered its death
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def blocked_in_blpop(r) -> bool:
    return any(client.get("cmd") == "blpop" for client in r.client_list())
