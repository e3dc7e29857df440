"""Running the sandbox: in the foreground for ``qianfa sandbox``, in a thread for tests."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from app.sandbox import create_app


class QuietHandler(WSGIRequestHandler):
    """No access log: the URLs carry access tokens, and tests read state, not logs."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SandboxServer:
    """A threaded werkzeug server around one sandbox app; port 0 picks a free port."""

    def __init__(
        self, app: Flask | None = None, host: str = "127.0.0.1", port: int = 0, quiet=False
    ):
        self.app = app or create_app()
        handler = QuietHandler if quiet else None
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def world(self):
        return self.app.extensions["sandbox"]

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self.world.close()

    def start(self) -> "SandboxServer":
        # A short poll interval: shutdown() waits for it, and tests start many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.world.close()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextmanager
def serve_in_thread(app: Flask | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve a sandbox on a free port in a background thread; yield its base URL.

    Like httpx's ``serve_in_thread``: the server is listening before the URL is yielded,
    and stopped (with its job thread and callback workers) when the block ends.
    """
    server = SandboxServer(app, host, 0, quiet=True).start()
    try:
        yield server.url
    finally:
        server.stop()
