"""Kill hooks for the crash tests (tests/test_publishing_kill.py), apart from the steps.

A worker started with ``QIANFA_TEST_CRASH_AT`` dies where the publication steps name the
point; in any other process ``crash_point`` returns at once.
"""

import os
import signal

# Set only by the kill tests: "before:<step>" or "after:<step>" makes the worker die by
# SIGKILL at that point, work-horse and parent alike, as on a crashed machine.
CRASH_ENV = "QIANFA_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) != name:
        return
    parent = os.getppid()
    # RQ's work-horse runs in a process group of its own; the worker that forked it leads
    # another one (the tests start it in a new session).
    if os.getpgid(parent) == parent:
        os.killpg(parent, signal.SIGKILL)
    os.killpg(os.getpgrp(), signal.SIGKILL)
