"""Reading a draft version's pictures: fetched, read once per content hash, then screened.

The job ``workers.jobs.read_pictures`` calls ``check`` when a version enters review. Each
picture comes from an upload or through the egress guard, by the fetch publishing uses
(``app.drafts.images.image_bytes``: size and time limits, decoded as the image it
claims to be); OCR reads it unless a picture with the same SHA-256 was read before
(``keys.picture_text``). A picture that cannot be fetched, decoded or read in time is a
reading with a ``problem``, which screening reports as 图片无法识别. The readings go to
``app.drafts.rescreen.record_pictures``, which screens them with the version and moves the
draft as a text block does.
"""

import hashlib

import redis

from app.core import keys
from app.core.errors import QianfaError
from app.core.settings import Settings
from app.drafts import images, lifecycle, rescreen
from app.screening import ocr, pictures
from app.screening.results import Screening


def check(r: redis.Redis, raw_id: str, content_hash: str, settings: Settings) -> Screening | None:
    """Read and screen the pictures of the version with ``content_hash``, if still current.

    ``None`` when there is nothing to do: another version, no pictures, or OCR is off.
    """
    draft = lifecycle.get(r, raw_id)
    if draft.content_hash != content_hash or not settings.picture_ocr:
        return None
    found = pictures.places(lifecycle.version(r, draft.id, draft.version).content)
    if not found:
        return None
    readings = [read_one(r, picture, settings) for picture in found]
    return rescreen.record_pictures(r, draft.id, content_hash, readings)


def read_one(r: redis.Redis, picture: pictures.Picture, settings: Settings) -> pictures.Reading:
    """The text of one picture, or why there is none; never raises for a bad picture."""
    try:
        data, _ = images.image_bytes(r, picture.source, settings.fetch_allow)
    except QianfaError as exc:  # unavailable, refused by the egress guard, a lost upload
        return pictures.Reading(picture.field, "", problem=exc.message)
    digest = hashlib.sha256(data).hexdigest()
    result = cached(r, digest) or remember(r, digest, ocr.read(data, settings.picture_ocr_timeout))
    return pictures.Reading(picture.field, digest, text=result.text, problem=result.problem)


def cached(r: redis.Redis, digest: str) -> ocr.Result | None:
    """What OCR read in a picture with these bytes before, if it was read."""
    raw = r.hgetall(keys.picture_text(digest))
    if not raw:
        return None
    return ocr.Result(text=raw[b"text"].decode(), problem=raw[b"problem"].decode())


def remember(r: redis.Redis, digest: str, result: ocr.Result) -> ocr.Result:
    """Keep the reading by content hash, unless its problem may pass (a timeout, a crash)."""
    if result.lasting:
        r.hset(keys.picture_text(digest), mapping={"text": result.text, "problem": result.problem})
    return result
