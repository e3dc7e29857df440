"""Reconciliation cost: WeChat calls and seconds for one platform with 1,000 online articles.

The first round sees every article (pages with content: 50 calls); a later round with 5
new articles must cost O(new), not O(all). The baseline, measured in the same run, is a
naive round: every page without content, then each article's content (1,050 calls).
Run with ``make bench`` or ``.venv/bin/python bench/reconcile.py``.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import (  # noqa: E402
    adopt,
    free_port,
    machine,
    redis_binary,
    register_platform,
    wait_for_port,
)

ONLINE = 1000
NEW = 5
APPID, SECRET, PLATFORM = "wx51a7fa0000be0c01", "0123456789abcdef0123456789abcdef", "bench"


def naive_round(api) -> int:
    """What reconciliation would cost without stopping at what it has seen."""
    calls, offset = 0, 0
    while True:
        page = api.freepublish_page(offset, 20)
        calls += 1
        for item in page["items"]:
            api.freepublish_getarticle(item["article_id"])
            calls += 1
        offset += len(page["items"])
        if not page["items"] or offset >= page["total_count"]:
            return calls


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> int:
    import redis

    from app.monitoring import reconcile
    from app.wechat.client import WeChatAPI
    from sandbox.server import serve_in_thread

    workdir = Path(tempfile.mkdtemp(prefix="qianfa-bench-reconcile-"))
    port = free_port()
    server = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        with serve_in_thread() as url:
            from sandbox.client import SandboxControl

            control = SandboxControl(url)
            control.add_account(appid=APPID, secret=SECRET, quotas={})
            env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
            env.update(
                QIANFA_REDIS_URL=f"redis://127.0.0.1:{port}/0",
                QIANFA_INSTANCE_DIR=str(workdir / "instance"),
                QIANFA_WECHAT_API_BASE=url,
            )
            settings = adopt(env)
            r = redis.Redis.from_url(env["QIANFA_REDIS_URL"])
            register_platform(r, settings, PLATFORM, APPID, app_secret=SECRET)
            for n in range(ONLINE):
                control.backoffice_publish(APPID, title=f"文章{n}", content=f"<p>正文{n}</p>")
            api = WeChatAPI.for_platform(r, PLATFORM, settings)
            baseline, base_seconds = timed(lambda: naive_round(api))
            first, first_seconds = timed(lambda: reconcile.reconcile(r, api, PLATFORM))
            for n in range(NEW):
                control.backoffice_publish(APPID, title=f"新文{n}", content="<p>新</p>")
            later, later_seconds = timed(lambda: reconcile.reconcile(r, api, PLATFORM))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"reconcile: {machine()}")
    print(f"  baseline (every page, then every article): {baseline} calls, {base_seconds:.2f} s")
    print(f"  first round, {ONLINE} articles: {first.calls} calls, {first_seconds:.2f} s")
    print(f"  later round, {NEW} new: {later.calls} calls, {later_seconds:.3f} s")
    return 0 if later.calls <= NEW + 2 and first.examined == ONLINE else 1


if __name__ == "__main__":
    sys.exit(main())
