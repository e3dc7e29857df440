"""Scale: listings and audit verification at a province's size.

Builds 200 platforms (through the real registry), 100,000 drafts in every status and
1,000,000 signed, chained audit records (written through pipelines, as the code writes
them), then times the chat's 待审, 我的稿件 and 状态, the console's dashboard and draft
list (signed in as the propaganda department, who sees every platform) and
``audit verify``, and reports Redis memory per 100,000 drafts.
Run with ``make bench`` or ``.venv/bin/python bench/scale.py``; ``BENCH_DRAFTS``,
``BENCH_AUDIT`` and ``BENCH_PLATFORMS`` shrink it, ``BENCH_RUNS`` (200) sets the samples.
"""

import gc
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchkit import free_port, machine, redis_binary, wait_for_port  # noqa: E402

PLATFORMS = int(os.environ.get("BENCH_PLATFORMS", "200"))
DRAFTS = int(os.environ.get("BENCH_DRAFTS", "100000"))
AUDIT = int(os.environ.get("BENCH_AUDIT", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
PASSWORD = "bench-password-for-scale"
# The mix of statuses: most drafts of a year are published; a tenth wait for review.
MIX = {
    "published": 70,
    "in_review": 10,
    "draft": 5,
    "rejected": 5,
    "withdrawn": 5,
    "approved": 3,
    "failed": 2,
}
TARGETS = {"chat": 20.0, "console": 150.0, "verify": 100_000}


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


def registry(r):
    """Platforms with a responsible person and an administrator each; a propaganda reviewer."""
    from app.core import audit
    from app.registry import filings, people, platforms, units

    actor = audit.Actor.cli("bench")
    unit = units.create(r, actor, "计算机学院", "secondary_college")
    league = units.create(r, actor, "党委宣传部", "propaganda")
    club = units.create(r, actor, "摄影社", "student_club")
    youth = units.create(r, actor, "校团委", "youth_league")
    # Art. 12: who may host (and supervise) each tier.
    hosts = {1: (league, league), 2: (unit, league), 3: (club, youth)}
    propaganda = people.create(r, actor, "宣传部审核人")
    people.grant_college_role(r, actor, propaganda.id, "propaganda")
    made = []
    for n in range(PLATFORMS):
        responsible = people.create(r, actor, f"责任人{n}")
        admin = people.create(r, actor, f"管理员{n}")
        pid = f"p{n:03d}-wx"
        tier = 1 if n < PLATFORMS // 20 else 2 + n % 2
        host, supervisor = hosts[tier]
        made.append(
            platforms.create(
                r,
                actor,
                pid,
                name=f"公众号{n}",
                kind="wechat",
                tier=tier,
                unit=host.id,
                supervising_unit=supervisor.id,
                responsible=responsible.id,
                admins=[admin.id],
            )
        )
        filings.file_in_one_go(r, actor, pid, signer="压测签字人")
    return [platforms.get(r, p.id) for p in made], propaganda.id


def drafts(r, made) -> None:
    """``DRAFTS`` drafts written as ``lifecycle`` writes them, indexes included."""
    import json

    from app.core import keys
    from app.core.store import timestamp
    from app.drafts import lifecycle, listing
    from app.drafts.signoffs import SIGNOFFS, required_signoffs

    rng = random.Random(17)
    statuses = rng.choices(list(MIX), weights=list(MIX.values()), k=DRAFTS)
    stamp = timestamp()
    pipe = r.pipeline(transaction=False)
    tx = SimpleNamespace(write=pipe)
    for n, status in enumerate(statuses, start=1):
        platform = made[n % len(made)]
        content = {"text": f"第{n}篇:计算机学院举办程序设计竞赛,欢迎同学们报名参加。"}
        draft = lifecycle.Draft(
            id=f"D{n}",
            platform=platform.id,
            author=next(iter(platform.admins)),
            kind="text",
            status=status,
            status_reason="",
            version=1,
            content_hash=lifecycle.content_hash("text", content),
            flags=frozenset(),
            scheduled_at="",
            created_at=stamp,
            updated_at=stamp,
        )
        pipe.hset(keys.draft(draft.id), mapping=draft.stored())
        pipe.hset(
            keys.draft_version(draft.id, 1),
            mapping={
                "number": 1,
                "content_hash": draft.content_hash,
                "kind": "text",
                "content": json.dumps(content, ensure_ascii=False),
                "author": draft.author,
                "created_at": stamp,
            },
        )
        missing = [req.signoff for req in required_signoffs(platform, draft)]
        if status == "in_review" and len(missing) > 1 and n % 2:
            given = {"person": platform.responsible, "content_hash": draft.content_hash}
            pipe.hset(keys.draft_signoffs(draft.id), missing.pop(0), json.dumps(given))
        listing.index_in(
            tx, draft, statuses=lifecycle.STATUSES, signoffs=SIGNOFFS, awaiting=missing,
            in_review=status == "in_review", published=status == "published",
        )  # fmt: skip
        pipe.zadd(keys.drafts(), {draft.id: n})
        pipe.zadd(keys.platform_drafts(platform.id), {draft.id: n})
        if n % 2000 == 0:
            pipe.execute()
    pipe.set(keys.sequence("draft"), DRAFTS)
    pipe.execute()


def audit_trail(r) -> None:
    """``AUDIT`` records chained and signed as ``audit.append`` makes them."""
    from app.core import audit, keys
    from app.core.auditseal import VERSION, signer
    from app.core.store import timestamp

    by, seq, prev = signer(), *audit.head(r)
    pipe = r.pipeline(transaction=False)
    for n in range(AUDIT):
        seq += 1
        rec = {
            "seq": str(seq),
            "at": timestamp(),
            "via": "chat",
            "person": "P3",
            "openid": "",
            "operator": "",
            "action": "draft.approve",
            "subject": "",
            "platform": "p001-wx",
            "draft": f"D{n % max(DRAFTS, 1) + 1}",
            "version_hash": "0" * 64,
            "decision": "approved",
            "reason": "",
            "detail": '{"signoff": "responsible"}',
            "prev": prev,
            "v": VERSION,
        }
        rec["hash"] = prev = audit.record_hash(rec)
        rec["sig"] = by.sign(rec["hash"])
        pipe.xadd(keys.audit_stream(), rec)
        if n % 5000 == 4999:
            pipe.execute()
    pipe.hset(keys.audit_head(), mapping={"seq": str(seq), "hash": prev})
    pipe.execute()


def timed(fn, runs: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def chat_timings(r, made, propaganda: str) -> dict[str, tuple[float, float]]:
    from app.channels import chat
    from app.core import keys
    from app.core.masterkey import load_keyring
    from app.core.settings import get_settings

    keyring, rng = load_keyring(get_settings()), random.Random(1)
    grants: dict[str, frozenset[str]] = {}

    def granted(person: str) -> frozenset[str]:
        """The sender's stored grants, as the webhook's claim script hands them to the chat
        with the binding, in the callback's one round trip (``bench/webhook.py`` times it)."""
        if person not in grants:
            grants[person] = frozenset(g.decode() for g in r.smembers(keys.person_roles(person)))
        return grants[person]

    for platform in made:  # read before the clock, as the webhook reads them before the chat
        granted(platform.responsible), granted(next(iter(platform.admins)))
    granted(propaganda)

    def say(text: str, who: str, platform=None):
        platform = platform or rng.choice(made)
        person = {"admin": next(iter(platform.admins)), "responsible": platform.responsible}
        sender = person.get(who, propaganda)
        inbound = chat.Inbound(
            openid="o-bench", type="text", person=sender, text=text, grants=granted(sender),
            authenticated=True,
        )  # fmt: skip
        return lambda: chat.respond(r, keyring, platform, inbound)

    tier1 = [p for p in made if p.tier == 1]

    def status():
        n = rng.randrange(len(made))  # draft D{k} is on platform k % len(made)
        say(f"状态 D{n or len(made)}", "admin", made[n])()

    return {
        "chat 待审 (responsible)": timed(lambda: say("待审", "responsible")(), RUNS),
        "chat 待审 (propaganda, tier 1)": timed(
            lambda: say("待审", "propaganda", rng.choice(tier1))(), RUNS
        ),
        "chat 我的稿件": timed(lambda: say("我的稿件", "admin")(), RUNS),
        "chat 状态": timed(status, RUNS),
    }


def console_timings(r, propaganda: str) -> dict[str, tuple[float, float]]:
    import re

    from app.channels import console_accounts
    from app.core import audit
    from app.core.settings import get_settings
    from app.web import create_app

    console_accounts.set_password(r, audit.Actor.cli("bench"), propaganda, PASSWORD)
    app = create_app(get_settings())
    app.testing = True
    client = app.test_client()
    page = client.get("/console/signin").data.decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    signed = client.post(
        "/console/signin", data={"person": propaganda, "password": PASSWORD, "csrf": csrf}
    )
    assert signed.status_code == 302, signed.data[:300]

    def get(path: str):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    runs = max(RUNS // 4, 10)
    return {
        "console dashboard": timed(lambda: get("/console/dashboard"), runs),
        "console draft list": timed(lambda: get("/console/drafts"), runs),
    }


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="qianfa-scale-"))
    proc, url = start_redis(workdir)
    for name in [k for k in os.environ if k.startswith("QIANFA_")]:
        del os.environ[name]
    os.environ.update(QIANFA_REDIS_URL=url, QIANFA_INSTANCE_DIR=str(workdir / "instance"))
    os.environ.update(QIANFA_LOG_LEVEL="WARNING")
    try:
        import redis

        from app.core import audit

        r = redis.Redis.from_url(url)
        started = time.perf_counter()
        made, propaganda = registry(r)
        before = r.info("memory")["used_memory"]
        drafts(r, made)
        per_100k = (r.info("memory")["used_memory"] - before) / max(DRAFTS, 1) * 100_000
        audit_trail(r)
        built = time.perf_counter() - started
        # As ``qianfa serve`` does once its app is built: what building left behind is not
        # walked by every full collection (tens of ms, a p99 of the serving process's own).
        gc.collect()
        gc.freeze()
        rows = {**chat_timings(r, made, propaganda), **console_timings(r, propaganda)}
        began = time.perf_counter()
        result = audit.verify(r)
        rate = result.checked / (time.perf_counter() - began)
        assert result.ok, result.problem
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    report(rows, rate, result.checked, per_100k, built, len(made))


def report(rows, rate: float, checked: int, per_100k: float, built: float, platforms: int):
    print(f"machine: {machine()}")
    print(
        f"scale: {platforms} platforms, {DRAFTS:,} drafts, {AUDIT:,} audit records "
        f"(built in {built:.0f} s); {RUNS} samples per chat command"
    )
    print(f"{'measure':34} {'p50 ms':>8} {'p99 ms':>8} {'target':>14}  met")
    for name, (p50, p99) in rows.items():
        target = TARGETS["chat" if name.startswith("chat") else "console"]
        bound = f"p99 < {target:.0f}"
        print(f"{name:34} {p50:8.1f} {p99:8.1f} {bound:>14}  {_met(p99 < target)}")
    verify = f"audit verify ({checked:,} records)"
    print(f"{verify:34} {rate:>17,.0f}/s {'>= 100,000/s':>12}  {_met(rate >= TARGETS['verify'])}")
    print(f"Redis memory per 100,000 drafts (versions and indexes): {per_100k / 2**20:.0f} MB")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
