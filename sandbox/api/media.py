"""``media/upload``, ``media/uploadimg`` and ``material/add_material`` (multipart ``media``)."""

from flask import Blueprint, request

from sandbox import media
from sandbox.api.base import Call, wechat_api

bp = Blueprint("sandbox_media", __name__, url_prefix="/cgi-bin")


def _upload() -> tuple[str, bytes]:
    """The multipart ``media`` part: its file name and bytes (empty when missing)."""
    part = request.files.get("media")
    if part is None:
        return "", b""
    return part.filename or "", part.read()


@wechat_api(bp, "media/uploadimg")
def upload_image(call: Call) -> dict:
    url = media.upload_content_image(call.world, call.account, *_upload())
    return {"url": url, "errcode": 0, "errmsg": "ok"}


@wechat_api(bp, "media/upload")
def upload_temporary(call: Call) -> dict:
    return media.upload_temporary(call.world, call.account, call.args.get("type", ""), *_upload())


@wechat_api(bp, "material/add_material")
def add_material(call: Call) -> dict:
    return media.add_material(call.world, call.account, call.args.get("type", ""), *_upload())
