"""``token``, ``stable_token`` and the quota tools of WeChat's API management."""

import ipaddress

from flask import Blueprint, request

from sandbox import quotas, tokens
from sandbox.api.base import Call, parse_json, wechat_api
from sandbox.crypto import same
from sandbox.errors import WeChatError
from sandbox.state import Account, World

bp = Blueprint("sandbox_token", __name__, url_prefix="/cgi-bin")


def _query_appid() -> str:
    return request.args.get("appid", "")


def _body_appid() -> str:
    try:
        value = parse_json(request.get_data(cache=True)).get("appid")
    except WeChatError:
        return ""
    return value if isinstance(value, str) else ""


def _allowed(whitelist: list[str], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(entry, strict=False) for entry in whitelist)
    except ValueError:
        return False


def check_credentials(world: World, grant_type, appid, secret) -> Account:
    """WeChat's checks on a token request, in its order, each with its own errcode."""
    if grant_type != "client_credential":
        raise WeChatError(40002)
    if not appid:
        raise WeChatError(41002)
    account = world.account(appid) if isinstance(appid, str) else None
    if account is None:
        raise WeChatError(40013)
    if not secret:
        raise WeChatError(41004)
    if not isinstance(secret, str) or not same(account.secret, secret):
        raise WeChatError(40125)
    address = request.remote_addr or ""
    if account.ip_whitelist and not _allowed(account.ip_whitelist, address):
        raise WeChatError(40164, fields={"ip": address})
    return account


@wechat_api(bp, "token", methods=("GET",), auth=False, appid=_query_appid)
def get_token(call: Call) -> dict:
    args = call.args
    account = check_credentials(
        call.world, args.get("grant_type"), args.get("appid"), args.get("secret")
    )
    quotas.count(call.world, account, "token")
    issued = tokens.issue(call.world, account)
    return {"access_token": issued.value, "expires_in": issued.remaining(call.world.now())}


@wechat_api(bp, "stable_token", methods=("POST",), auth=False, appid=_body_appid)
def get_stable_token(call: Call) -> dict:
    body = call.json
    account = check_credentials(
        call.world, body.get("grant_type"), body.get("appid"), body.get("secret")
    )
    force = body.get("force_refresh", False)
    if not isinstance(force, bool):
        raise WeChatError(47001)
    quotas.count(call.world, account, "stable_token")
    issued = tokens.stable(call.world, account, force)
    return {"access_token": issued.value, "expires_in": issued.remaining(call.world.now())}


@wechat_api(bp, "clear_quota")
def clear_quota(call: Call) -> dict:
    if call.text("appid") != call.account.appid:
        raise WeChatError(40013)
    quotas.clear(call.world, call.account)
    return {"errcode": 0, "errmsg": "ok"}


@wechat_api(bp, "openapi/quota/get")
def get_quota(call: Call) -> dict:
    path = call.text("cgi_path")
    if not path.startswith("/cgi-bin/"):
        raise WeChatError(76021)
    endpoint = path.removeprefix("/cgi-bin/")
    return {
        "errcode": 0,
        "errmsg": "ok",
        "quota": quotas.report(call.world, call.account, endpoint),
        "rate_limit": {"call_count": 0, "refresh_second": 60},
    }
