"""OCR: the text in one picture, read by RapidOCR's PP-OCR models in a child process.

The models ship in ``rapidocr-onnxruntime``'s wheel, so nothing is downloaded. Loading
them takes seconds and about 1 GB, and a picture takes seconds more, so the engine lives
in one child process per worker process (``python -m app.screening.ocr``), started on first
use and reused; nothing here imports it, so the web process never loads it. The child is
what bounds a picture's time: one that overruns the limit, or crashes the engine, is
killed, and the next picture starts a new child. Pictures are decoded (Pillow, with a
pixel limit) in the child too, so a hostile file can only take that process down.

The protocol on the child's stdin and stdout: the parent writes a 4-byte big-endian length
and the picture's bytes; the child answers one JSON line, ``{"text": …}`` or
``{"problem": …}``. It writes ``{"ready": true}`` once the engine is loaded.
"""

import atexit
import io
import json
import os
import select
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass

MAX_BYTES = 10 * 1024 * 1024  # WeChat's limit for an image, and more than any upload
MAX_PIXELS = 40_000_000
LOAD_TIMEOUT = 300.0  # seconds for the child to load the models, on a loaded machine
HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class Result:
    """The text read, or why there is none; ``lasting`` problems are worth remembering."""

    text: str = ""
    problem: str = ""
    lasting: bool = True


class Reader:
    """The engine's child process, started on first use and replaced after a failure."""

    def __init__(self, command: list[str] | None = None):
        self.command = command or [sys.executable, "-m", "app.screening.ocr"]
        self.child: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def read(self, data: bytes, timeout: float) -> Result:
        """The text in a picture, within ``timeout`` seconds; never raises for a bad picture."""
        if len(data) > MAX_BYTES:
            return Result(problem=f"图片过大(超过 {MAX_BYTES // (1024 * 1024)} MB),未识别")
        with self.lock:
            try:
                return self._ask(data, timeout)
            except (OSError, ValueError, TimeoutError) as exc:
                self.stop()
                return Result(problem=_failure(exc, timeout), lasting=False)

    def _ask(self, data: bytes, timeout: float) -> Result:
        child = self._started()
        child.stdin.write(HEADER.pack(len(data)) + data)
        child.stdin.flush()
        answer = _line(child, timeout)
        if "text" in answer:
            return Result(text=str(answer["text"]))
        return Result(problem=str(answer.get("problem") or "图片无法识别"))

    def _started(self) -> subprocess.Popen:
        if self.child is None or self.child.poll() is not None:
            self.child = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            _line(self.child, LOAD_TIMEOUT)
        return self.child

    def stop(self) -> None:
        """Kill the child (a picture overran, or the process is ending)."""
        child, self.child = self.child, None
        if child is not None and child.poll() is None:
            child.kill()
        if child is not None:
            child.wait()
            for stream in (child.stdin, child.stdout):
                stream.close()


def _line(child: subprocess.Popen, timeout: float) -> dict:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError
    line = child.stdout.readline()
    if not line:
        raise OSError("the OCR process ended")
    return json.loads(line)


def _failure(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"识别超时(超过 {timeout:g} 秒)"
    return "文字识别失败"


_reader: Reader | None = None


def read(data: bytes, timeout: float) -> Result:
    """Read one picture with this process's engine (started on first use)."""
    global _reader
    if _reader is None:
        _reader = Reader()
        atexit.register(_reader.stop)
    return _reader.read(data, timeout)


# --- the child process ---------------------------------------------------------------------


def decode(data: bytes):
    """The picture as Pillow sees it, fully decoded, or a ``Result`` saying why it is not."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                return Result(problem=f"图片像素过多(超过 {MAX_PIXELS // 1_000_000} 百万像素)")
            return image.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return Result(problem="不是可以识别的图片")
    except (OSError, ValueError, SyntaxError):  # Pillow's errors for a truncated or broken file
        return Result(problem="图片已损坏,无法解码")


def answer(engine, data: bytes) -> dict:
    picture = decode(data)
    if isinstance(picture, Result):
        return {"problem": picture.problem}
    import numpy

    found, _ = engine(numpy.asarray(picture)[:, :, ::-1])  # RGB to the BGR OpenCV expects
    return {"text": "\n".join(line[1] for line in found or [])}


def serve(stdin=None, stdout=None) -> None:
    """The child's loop: load the engine, then answer one picture at a time until EOF."""
    if stdout is None:  # the answers keep fd 1; anything the libraries print goes to stderr
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
    from rapidocr_onnxruntime import RapidOCR

    stdin = stdin or sys.stdin.buffer
    engine = RapidOCR()
    _write(stdout, {"ready": True})
    while header := stdin.read(HEADER.size):
        (size,) = HEADER.unpack(header)
        _write(stdout, answer(engine, stdin.read(size)))


def _write(stdout, message: dict) -> None:
    stdout.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    stdout.flush()


if __name__ == "__main__":
    serve()
