"""``user/get``, ``user/info`` and ``getcallbackip``: followers and the callback IPs.

Shapes as WeChat answers them: ``user/get`` pages subscribed OpenIDs (10 000 a page, in
the order they followed, ``next_openid`` the last one given); ``user/info`` answers
``{"subscribe": 0, "openid": ...}`` for someone who unfollowed, 40003 for an OpenID the
account never saw; ``getcallbackip`` lists where callbacks come from (here: loopback).
"""

from flask import Blueprint

from sandbox.api.base import Call, wechat_api
from sandbox.errors import WeChatError

bp = Blueprint("sandbox_user", __name__, url_prefix="/cgi-bin")

PAGE = 10_000
CALLBACK_IPS = ["127.0.0.1"]


@wechat_api(bp, "user/get", methods=("GET",))
def followers(call: Call) -> dict:
    openids = [user.openid for user in call.account.users.values() if user.subscribed]
    after = call.args.get("next_openid") or ""
    if after:
        if after not in openids:
            raise WeChatError(40003)
        openids = openids[openids.index(after) + 1 :]
    page = openids[:PAGE]
    total = sum(user.subscribed for user in call.account.users.values())
    answer = {"total": total, "count": len(page), "next_openid": page[-1] if page else ""}
    if page:
        answer["data"] = {"openid": page}
    return answer


@wechat_api(bp, "user/info", methods=("GET",))
def info(call: Call) -> dict:
    user = call.account.user(call.args.get("openid") or "")
    if user is None:
        raise WeChatError(40003)
    if not user.subscribed:
        return {"subscribe": 0, "openid": user.openid}
    return {
        "subscribe": 1,
        "openid": user.openid,
        "language": call.args.get("lang") or "zh_CN",
        "subscribe_time": 1_700_000_000,
        "remark": "",
        "groupid": 0,
        "tagid_list": user.tags,
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 0,
        "qr_scene_str": "",
    }


@wechat_api(bp, "getcallbackip", methods=("GET",))
def callback_ips(call: Call) -> dict:
    return {"ip_list": CALLBACK_IPS}
