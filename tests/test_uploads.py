"""Uploads: images checked by their bytes, stored once by content, read back by reference."""

import pytest

from app import audit, uploads
from app.errors import InvalidInput, NotFound, TooLarge, UnsupportedType
from tests.factories import snapshot
from tests.images import GIF, JPEG, png

EDITOR = audit.Actor(via="api", person="P2", operator="T1")


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
    ],
)
def test_bad_images_are_refused_and_nothing_is_written(r, data, declared, error):
    """Empty, oversized, non-JPEG/PNG or mislabelled files are refused and nothing is stored."""
    before = snapshot(r)
    with pytest.raises(error) as refused:
        uploads.save(r, EDITOR, data, declared)
    assert refused.value.field == "file"
    assert snapshot(r) == before


def test_an_image_of_exactly_the_limit_is_accepted(r):
    """A file of exactly 2 MB is within the limit."""
    data = b"\xff\xd8\xff" + b"\x00" * (uploads.MAX_BYTES - 3)
    assert uploads.save(r, EDITOR, data, "image/jpeg").size == uploads.MAX_BYTES


def test_saved_image_reads_back_by_reference(r):
    """The publishing worker gets the same bytes back by reference."""
    saved = uploads.save(r, EDITOR, png(), "image/png")
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
