"""Spread connections evenly over the web processes that share one listening socket.

On a shared socket the kernel hands a new connection to whichever process polls first, so
a few long-lived keep-alive connections (a load balancer's pool, WeChat's callback
connections) can pile up on one process while another idles; under load the busier one's
callers wait in proportion to its share (22 and 10 of 32 in ``bench/webhook.py``).

Each process writes its open connections, and whether it offers to accept, to shared
memory each time its loop turns (waitress asks its listening dispatcher ``readable()``
then). It stands back while a live sibling holds fewer, and when none of the siblings
holding fewest offers (each looked before the others grew), it wakes them to look again:
a count changes only in its own process's loop, so the process holding fewest offers, or
is woken to. A sibling whose loop has not turned for ``STALE`` seconds (stuck, or gone)
is left out; waitress turns at least once a second.
"""

import mmap
import os
import time

from waitress import wasyncore

STALE = 2.0


class Balance:
    """Shared by the web processes of one ``qianfa serve``: made before they fork."""

    def __init__(self, processes: int):
        self.processes = processes
        self.memory = mmap.mmap(-1, 16 * processes)
        # Per process: open connections * 2 + offers (1 | 0); the time of its last turn.
        self.words = memoryview(self.memory)[: 8 * processes].cast("q")
        self.turned = memoryview(self.memory)[8 * processes :].cast("d")
        self.wakes = [os.pipe() for _ in range(processes)]
        for _, write in self.wakes:
            os.set_blocking(write, False)

    def watch(self, server, index: int) -> None:
        """In process ``index``: waitress's listening dispatcher ``server`` offers to
        accept only its share, and a sibling's wake turns its loop."""
        _Wake(self.wakes[index][0], server._map)
        readable = server.readable

        def balanced() -> bool:
            return self.offers(index, len(server._map), readable())

        server.readable = balanced

    def offers(self, index: int, connections: int, able: bool = True) -> bool:
        """Whether process ``index``, holding ``connections``, should accept; say so, and
        wake the siblings holding fewest when none of them offers (they looked too early)."""
        now = time.monotonic()
        live = self._live(index, now)
        fewest = min([held for _, held, _ in live], default=connections)
        offers = able and connections <= fewest
        self.words[index], self.turned[index] = connections * 2 + offers, now
        least = [(other, offering) for other, held, offering in live if held == fewest]
        if fewest < connections and not any(offering for _, offering in least):
            for other, _ in least:
                self._wake(other)
        return offers

    def _live(self, index: int, now: float) -> list[tuple[int, int, int]]:
        words, turned = self.words, self.turned
        return [
            (other, words[other] >> 1, words[other] & 1)
            for other in range(self.processes)
            if other != index and now - turned[other] < STALE
        ]

    def _wake(self, other: int) -> None:
        try:
            os.write(self.wakes[other][1], b"w")
        except BlockingIOError:
            pass  # its pipe is full of wakes it has yet to read: it will look


class _Wake(wasyncore.file_dispatcher):
    """The read end of a process's wake pipe in its loop: a byte turns the loop."""

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        try:
            self.recv(4096)
        except BlockingIOError:
            pass
