"""Uploads: images checked by their bytes, stored once by content, read back by reference."""

import pytest

from app.core import audit, keys
from app.core.errors import InvalidInput, NotFound, TooLarge, UnsupportedType
from app.drafts import uploads
from tests.factories import snapshot
from tests.images import FAKE_PNG, GIF, JPEG, png, png_of_size

EDITOR = audit.Actor(via="api", person="P2", operator="T1")
QUOTA = uploads.Quota(count=3, bytes=10 * 1024 * 1024, ttl=3600)


@pytest.mark.parametrize(
    ("data", "declared", "kind"),
    [
        (png(), "image/png", "image/png"),
        (png(), "", "image/png"),
        (png(), "application/octet-stream", "image/png"),
        (JPEG, "image/jpeg; charset=binary", "image/jpeg"),
        (JPEG, "IMAGE/JPG", "image/jpeg"),
    ],
)
def test_the_bytes_decide_the_type(data, declared, kind):
    """The type comes from the magic bytes; a missing or generic declared type is fine."""
    assert uploads.check(data, declared) == kind


@pytest.mark.parametrize(
    ("data", "declared", "error"),
    [
        (b"", "image/png", InvalidInput),
        (GIF, "image/gif", UnsupportedType),
        (b"\x89PN", "image/png", UnsupportedType),
        (png(), "image/jpeg", UnsupportedType),
        (JPEG, "text/html", UnsupportedType),
        (b"\xff\xd8\xff" + b"\x00" * uploads.MAX_BYTES, "image/jpeg", TooLarge),
        (FAKE_PNG, "image/png", UnsupportedType),
        (JPEG[:-200], "image/jpeg", UnsupportedType),
        (b"\xff\xd8\xff" + b"\x00" * 100, "image/jpeg", UnsupportedType),
    ],
)
def test_bad_images_are_refused_and_nothing_is_written(r, data, declared, error):
    """Empty, oversized, non-JPEG/PNG, undecodable or mislabelled: refused, nothing stored."""
    before = snapshot(r)
    with pytest.raises(error) as refused:
        uploads.save(r, EDITOR, data, declared, QUOTA)
    assert refused.value.field == "file"
    assert snapshot(r) == before


def test_an_image_of_exactly_the_limit_is_accepted(r):
    """A file of exactly 2 MB is within the limit."""
    data = png_of_size(uploads.MAX_BYTES)
    assert uploads.save(r, EDITOR, data, "image/png", QUOTA).size == uploads.MAX_BYTES


def test_saved_image_reads_back_by_reference(r):
    """The publishing worker gets the same bytes back by reference."""
    saved = uploads.save(r, EDITOR, png(), "image/png", QUOTA)
    assert uploads.is_ref(saved.ref) and uploads.exists(r, saved.ref)
    read = uploads.get(r, saved.ref)
    assert read.data == png() and read.content_type == "image/png" and read.person == "P2"
    assert "data=" not in repr(read)
    assert audit.verify(r).ok


@pytest.mark.parametrize(
    "ref", ["upload:xyz", "https://example.com/a.png", None, "upload:" + "A" * 64]
)
def test_malformed_references_are_invalid(r, ref):
    """Only upload: followed by a lowercase SHA-256 is a reference."""
    assert not uploads.is_ref(ref) and not uploads.exists(r, ref)
    with pytest.raises(InvalidInput):
        uploads.get(r, ref)


def test_unknown_reference_is_not_found(r):
    """A well-formed reference to nothing is not found."""
    with pytest.raises(NotFound, match="请先上传"):
        uploads.get(r, "upload:" + "0" * 64)


def test_unused_upload_expires_and_a_claimed_one_is_kept(r):
    """An upload no draft uses expires after the quota's TTL; claiming it keeps it for good."""
    saved = uploads.save(r, EDITOR, png(), "image/png", QUOTA)
    key = keys.upload(saved.sha256)
    assert 0 < r.ttl(key) <= QUOTA.ttl
    uploads.claim(r, saved.ref)
    assert r.ttl(key) == -1 and r.zcard(keys.pending_uploads("P2")) == 0


def stored(r) -> dict:
    """Every key and its content; reading a hash may reorder what ``DUMP`` gives for it."""
    return {key: r.hgetall(key) if r.type(key) == b"hash" else r.dump(key) for key in r.keys()}


def test_upload_over_the_count_quota_is_refused_until_one_is_claimed(r):
    """A person keeps at most ``count`` unused uploads; a draft using one frees its place."""
    saved = [uploads.save(r, EDITOR, png(n), "image/png", QUOTA) for n in (1, 2, 3)]
    before = stored(r)
    with pytest.raises(TooLarge) as refused:
        uploads.save(r, EDITOR, png(4), "image/png", QUOTA)
    assert refused.value.code == "upload_quota" and stored(r) == before
    uploads.claim(r, saved[0].ref)
    assert uploads.save(r, EDITOR, png(4), "image/png", QUOTA).size == len(png(4))


def test_upload_over_the_bytes_quota_is_refused(r):
    """The person's unused uploads may not exceed ``bytes`` in total."""
    small = uploads.Quota(count=10, bytes=1024 * 1024, ttl=3600)
    uploads.save(r, EDITOR, png_of_size(700 * 1024), "image/png", small)
    with pytest.raises(TooLarge, match="上限"):
        uploads.save(r, EDITOR, png_of_size(400 * 1024), "image/png", small)


def test_claiming_a_missing_upload_is_invalid(r):
    """A draft cannot keep an upload that expired or never existed."""
    with pytest.raises(InvalidInput, match="请先上传"):
        uploads.claim(r, "upload:" + "0" * 64)
