"""A draft's images as bytes: from an ``upload:<sha256>`` reference (``app.drafts.uploads``)
or downloaded over HTTP(S) through the egress guard (``app.core.egress``) with a size and
time limit, and decoded as the image they claim. Publishing uploads them to WeChat; the
pictures worker reads the text in them.
"""

import time

import requests

from app.core import egress
from app.core.errors import InvalidInput, QianfaError
from app.drafts import uploads

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # WeChat's limit for permanent image material
FETCH_TIMEOUT = (5.0, 15.0)  # connect, read (each read of a chunk)
FETCH_DEADLINE = 30.0  # seconds for a whole download
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class ImageUnavailable(QianfaError):
    """An image could not be fetched; ``retryable`` says whether trying later may help."""

    code = "image_unavailable"

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def image_bytes(
    r, source: str, allow: egress.Allow, *, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[bytes, str]:
    """The bytes of an image and a file name for WeChat, from an upload ref or a URL.

    WeChat judges a file by its name's extension, which must match the bytes, so the
    name is made from what the bytes are.
    """
    if uploads.is_ref(source):
        upload = uploads.get(r, source)
        data, stem, kind = upload.data, upload.sha256[:16], upload.content_type
    else:
        data, kind = fetch(source, allow, max_bytes=max_bytes)
        stem = "image"
    return data, f"{stem}.{EXTENSIONS[kind]}"


def fetch(
    url: str, allow: egress.Allow, *, max_bytes: int = MAX_IMAGE_BYTES, deadline=FETCH_DEADLINE
) -> tuple[bytes, str]:
    """Download an image through the egress guard with a size and a time limit; its type.

    The bytes must decode fully as the JPEG or PNG they start as, and as the image type
    the server declared, if it declared one.
    """
    data, declared = _download(url, allow, max_bytes, deadline)
    try:
        kind = uploads.check(data, declared, max_bytes=max_bytes)
    except InvalidInput as exc:
        raise ImageUnavailable(f"{exc.message}:{egress.short(url)}", retryable=False) from None
    return data, kind


def _download(url: str, allow: egress.Allow, max_bytes: int, deadline: float):
    """The body (never more than ``max_bytes``) and the declared image type, if any."""
    started = time.monotonic()
    failure = None
    try:
        with egress.Client(allow).get(url, timeout=FETCH_TIMEOUT) as response:
            _check_response(url, response, max_bytes)
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise ImageUnavailable(_too_large(url, max_bytes), retryable=False)
                if time.monotonic() - started > deadline:
                    raise ImageUnavailable(f"下载图片超时:{egress.short(url)}", retryable=True)
            declared = response.headers.get("Content-Type", "")
    except egress.Refused as exc:
        raise ImageUnavailable(exc.message, retryable=False) from None
    except egress.Unresolved as exc:
        failure = f"{exc.message}:{egress.short(url)}"
    except requests.Timeout:
        failure = f"下载图片超时:{egress.short(url)}"
    except requests.RequestException as exc:
        failure = f"无法下载图片({type(exc).__name__}):{egress.short(url)}"
    if failure:
        raise ImageUnavailable(failure, retryable=True)
    if not data:
        raise ImageUnavailable(f"图片是空的:{egress.short(url)}", retryable=False)
    return bytes(data), declared if declared.lower().startswith("image/") else ""


def _check_response(url: str, response: requests.Response, max_bytes: int) -> None:
    status, shown = response.status_code, egress.short(url)
    if status >= 500 or status == 429:
        raise ImageUnavailable(f"图片服务器暂时不可用(HTTP {status}):{shown}", retryable=True)
    if status != 200:
        raise ImageUnavailable(f"图片无法下载(HTTP {status}):{shown}", retryable=False)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageUnavailable(_too_large(url, max_bytes), retryable=False)


def _too_large(url: str, max_bytes: int) -> str:
    return f"图片超过 {max_bytes // (1024 * 1024)} MB:{egress.short(url)}"
