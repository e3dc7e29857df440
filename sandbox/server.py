"""Running the sandbox: in the foreground for ``python -m sandbox``, in a thread for tests."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox import create_app
from sandbox.logs import ENVIRON_KEY, RequestId
from sandbox.redaction import redact, redact_text

access = logging.getLogger("sandbox.access")


class RedactingHandler(WSGIRequestHandler):
    """Werkzeug's access log with each target redacted: URLs carry the AppSecret
    (``/cgi-bin/token?secret=``), access tokens, signatures and openids."""

    def log_request(self, code="-", size="-") -> None:
        method, version = getattr(self, "command", None), getattr(self, "request_version", "")
        target = redact(getattr(self, "path", "") or "")
        rid = getattr(self, "environ", {}).get(ENVIRON_KEY)
        access.info(
            '%s "%s %s %s" %s %s',
            self.address_string(),
            method or "-",
            target,
            version,
            code,
            size,
            extra={"request_id": rid},
        )

    def log_error(self, format: str, *args) -> None:
        # A malformed request line is quoted in the message: redact it too.
        super().log_error(format, *(redact_text(str(arg)) for arg in args))


class QuietHandler(RedactingHandler):
    """No access log: tests read state, not logs."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class SandboxServer:
    """A threaded werkzeug server around one sandbox app; port 0 picks a free port."""

    def __init__(
        self, app: Flask | None = None, host: str = "127.0.0.1", port: int = 0, quiet=False
    ):
        self.app = app or create_app()
        handler = QuietHandler if quiet else RedactingHandler
        self._server = make_server(
            host, port, RequestId(self.app), threaded=True, request_handler=handler
        )
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
