"""Prometheus counters of every Qianfa process, from one table, added up across processes.

prometheus-client's multiprocess mode keeps each process's values in files under
``PROMETHEUS_MULTIPROC_DIR``, which ``/metrics`` adds up. The library decides between
files and memory when it is imported, so this module imports it only when a metric is
first touched: ``use_directory`` (called by every ``qianfa`` process before its first
metric) has set the directory by then, and a test process without one keeps them in
memory. Counts that only Redis knows (drafts by status, queue depths, open alerts, the
audit chain) are read when ``/metrics`` is scraped, not counted here.

A forking RQ worker runs each job in a child with a new pid, hence new files; ``fold``
adds a finished child's counts into its parent's own file and deletes the child's, so the
directory holds a few files per process, not one per job.
"""

import glob
import os
import re
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# counter_123.db, histogram_archive123.db: the pid of the process that wrote the file.
FILE_PID = re.compile(r"_(?:archive)?(\d+)\.db$")
# Sign-off latency: minutes to a week (art. 10: a post waits for its reviewers).
SIGNOFF_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)

# name: (type, help, labels, buckets)
METRICS = {
    "qianfa_callbacks_total": (
        "counter",
        "WeChat callbacks by result (accepted, refused) and refusal reason",
        ("result", "reason"),
        None,
    ),
    "qianfa_chat_commands_total": (
        "counter",
        "Chat commands by command and outcome (ok, refused)",
        ("command", "outcome"),
        None,
    ),
    "qianfa_signoff_seconds": (
        "histogram",
        "Seconds from a version's submission to its last required sign-off",
        (),
        SIGNOFF_BUCKETS,
    ),
    "qianfa_publish_steps_total": (
        "counter",
        "Publishing steps by step and outcome (done, retry, failed)",
        ("step", "outcome"),
        None,
    ),
    "qianfa_wechat_errors_total": (
        "counter",
        "WeChat API answers with a non-zero errcode, by API path and errcode",
        ("api", "errcode"),
        None,
    ),
    "qianfa_unreadable_entries_total": (
        "counter",
        "Stream entries skipped as unreadable (not UTF-8, malformed), by stream and reason",
        ("stream", "reason"),
        None,
    ),
    "qianfa_jobs_total": (
        "counter",
        "RQ jobs by queue, function and final status",
        ("queue", "function", "status"),
        None,
    ),
}

_made: dict = {}
_series_made: dict = {}  # (name, *label items): the labelled child


def use_directory(where: Path) -> Path:
    """Keep this process's (and its children's) values under ``where``; drop stale files.

    prometheus-client requires the files of processes gone with a previous run to go, or
    they are added to this run's; each process removes those of processes no longer
    running as it starts, so processes started together never remove each other's. An
    operator's own ``PROMETHEUS_MULTIPROC_DIR`` wins over ``where``.
    """
    chosen = Path(os.environ.get(ENV) or where)
    chosen.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(chosen)
    for path in chosen.glob("*.db"):
        pid = FILE_PID.search(path.name)
        if pid and not running(int(pid.group(1))):
            path.unlink(missing_ok=True)
    return chosen


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def directory() -> str | None:
    return os.environ.get(ENV)


def _metric(name: str):
    found = _made.get(name)
    if found is None:
        import prometheus_client  # here, not at the top: see the module's docstring

        kind, doc, labels, buckets = METRICS[name]
        if kind == "histogram":
            found = prometheus_client.Histogram(name, doc, labels, buckets=buckets)
        else:
            found = prometheus_client.Counter(name.removesuffix("_total"), doc, labels)
        found = _made.setdefault(name, found)
    return found


def _series(name: str, labels: dict):
    """The child of ``name`` for ``labels``, looked up once: ``labels()`` checks and locks."""
    key = (name, *labels.items())
    found = _series_made.get(key)
    if found is None:
        metric = _metric(name)
        found = _series_made.setdefault(key, metric.labels(**labels) if labels else metric)
    return found


def count(name: str, amount: float = 1, **labels) -> None:
    _series(name, labels).inc(amount)


def observe(name: str, value: float, **labels) -> None:
    _series(name, labels).observe(value)


def fold(pid: int) -> None:
    """Add the counts of the finished child ``pid`` to this process's archive; drop its files."""
    where = directory()
    if not where:
        return
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict

    for path in glob.glob(os.path.join(where, f"*_{pid}.db")):
        kind = os.path.basename(path).split("_", 1)[0]
        if kind in ("counter", "histogram"):
            archive = MmapedDict(os.path.join(where, f"{kind}_archive{os.getpid()}.db"))
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(path):
                    archive.write_value(key, archive.read_value(key)[0] + value, timestamp)
            finally:
                archive.close()
            os.remove(path)
    multiprocess.mark_process_dead(pid, where)
