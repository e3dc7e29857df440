"""``message/custom/send``, ``message/template/send`` and ``message/mass/*``."""

from flask import Blueprint

from sandbox import mass, messaging
from sandbox.api.base import Call, wechat_api

bp = Blueprint("sandbox_message", __name__, url_prefix="/cgi-bin")


@wechat_api(bp, "message/custom/send")
def custom_send(call: Call) -> dict:
    messaging.custom_send(call.world, call.account, call.json)
    return {"errcode": 0, "errmsg": "ok"}


@wechat_api(bp, "message/template/send")
def template_send(call: Call) -> dict:
    msgid = messaging.template_send(call.world, call.account, call.json)
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


@wechat_api(bp, "message/mass/sendall")
def mass_sendall(call: Call) -> dict:
    return mass.send(call.world, call.account, call.json, call.endpoint)


@wechat_api(bp, "message/mass/send")
def mass_send(call: Call) -> dict:
    return mass.send(call.world, call.account, call.json, call.endpoint)


@wechat_api(bp, "message/mass/preview")
def mass_preview(call: Call) -> dict:
    return mass.preview(call.world, call.account, call.json)


@wechat_api(bp, "message/mass/get")
def mass_get(call: Call) -> dict:
    return mass.status(call.account, call.text("msg_id"))
