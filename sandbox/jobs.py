"""A one-thread timer for WeChat's asynchronous work: publish jobs, mass sends, events.

Jobs run in the order they fall due. ``flush`` makes every pending job due at once, so a
test can check "still publishing" and then finish the job without waiting for its delay.
"""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._running = 0

    def call_later(self, delay: float, job: Callable[[], None]) -> None:
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-jobs", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self) -> int:
        """Make every pending job due now; return how many there were."""
        with self._cond:
            self._heap = [(0.0, order, job) for _, order, job in self._heap]
            heapq.heapify(self._heap)
            self._cond.notify_all()
            return len(self._heap)

    def clear(self) -> None:
        """Drop every job not yet started."""
        with self._cond:
            self._heap.clear()

    def pending(self) -> int:
        """Jobs waiting or running: zero means the sandbox has nothing left to do."""
        with self._cond:
            return len(self._heap) + self._running

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _next_job(self) -> Callable[[], None] | None:
        with self._cond:
            while not self._stopped:
                if self._heap and self._heap[0][0] <= time.monotonic():
                    self._running += 1
                    return heapq.heappop(self._heap)[2]
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._cond.wait(timeout)
            return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                job()
            except Exception:
                log.exception("sandbox job failed")
            finally:
                with self._cond:
                    self._running -= 1
