"""Exponential backoff with jitter, for every retry Qianfa schedules."""

import random

CAP = 900.0  # seconds: no single wait is longer


def backoff(attempt: int, *, base: float = 5.0, cap: float = CAP, rng=None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): exponential, jittered.

    "Equal jitter": half of ``min(cap, base * 2**attempt)`` plus a random share of the
    other half, so workers that failed together do not all come back at once, and no
    retry comes back sooner than half the nominal delay.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def retry_intervals(retries: int, **kwargs) -> list[float]:
    """``backoff`` for each of ``retries`` attempts, as RQ's ``Retry(interval=...)`` wants."""
    return [backoff(attempt, **kwargs) for attempt in range(retries)]
