"""The control API (JSON, under ``/sandbox/api``): set the sandbox up, act, look inside.

This is the part of the sandbox that WeChat does not have. Tests and the demo use it to
register accounts and users, make users send messages, inject faults, move the clock,
finish pending jobs, and read what WeChat would have received and shown.
"""

from flask import Blueprint, abort, jsonify, request

from sandbox import simulate, tokens, verify
from sandbox.api.base import current_world
from sandbox.faults import FaultSpecError
from sandbox.state import Account, StateError, World

bp = Blueprint("sandbox_control", __name__, url_prefix="/sandbox/api")


@bp.errorhandler(ValueError)
def _bad_request(exc: ValueError):
    return jsonify({"error": str(exc)}), 400


def _body() -> dict:
    data = request.get_json(force=True, silent=True)
    if data is None and not request.get_data():
        return {}
    if not isinstance(data, dict):
        raise StateError("请求体必须是 JSON 对象")
    return data


def _account(world: World, appid: str) -> Account:
    account = world.account(appid)
    if account is None:
        abort(404, f"没有账号 {appid}")
    return account


def account_detail(world: World, account: Account) -> dict:
    """Everything the sandbox knows about one account, as JSON."""
    return {
        **account.summary(),
        "tokens": tokens.summary(world, account),
        "users": [user.to_dict() for user in account.users.values()],
        "templates": list(account.templates.values()),
        "materials": list(account.materials.values()),
        "drafts": list(account.drafts.values()),
        "publish_jobs": list(account.publish_jobs.values()),
        "articles": list(account.articles.values()),
        "mass_sends": list(account.mass_sends.values()),
        "template_sends": list(account.template_sends.values()),
    }


@bp.get("/state")
def state():
    world = current_world()
    with world.lock:
        return {
            "now": world.now(),
            "busy": world.busy(),
            "config": world.config.to_dict(),
            "accounts": [account.summary() for account in world.accounts.values()],
        }


@bp.post("/reset")
def reset():
    world = current_world()
    seed = _body().get("seed", world.config.seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise StateError("seed 必须是整数")
    with world.lock:
        world.reset(seed)
    return {"seed": seed}


@bp.patch("/config")
def configure():
    world = current_world()
    with world.lock:
        world.config.update(_body())
        return world.config.to_dict()


@bp.post("/clock")
def advance_clock():
    """Move WeChat's time forward: token expiry, reply windows, de-duplication."""
    seconds = _body().get("advance", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise StateError("advance 必须是秒数")
    world = current_world()
    with world.lock:
        return {"now": world.clock.advance(seconds)}


@bp.post("/jobs/flush")
def flush_jobs():
    """Finish every pending publish and mass-send job now instead of after its delay."""
    return {"flushed": current_world().scheduler.flush()}


@bp.get("/accounts")
def list_accounts():
    world = current_world()
    with world.lock:
        return jsonify([account.summary() for account in world.accounts.values()])


@bp.post("/accounts")
def add_account():
    world = current_world()
    with world.lock:
        return world.add_account(_body()).summary(), 201


@bp.get("/accounts/<appid>")
def get_account(appid: str):
    world = current_world()
    with world.lock:
        return account_detail(world, _account(world, appid))


@bp.patch("/accounts/<appid>")
def change_account(appid: str):
    world = current_world()
    with world.lock:
        account = _account(world, appid)
        account.configure(_body())
        return account.summary()


@bp.post("/accounts/<appid>/templates")
def add_template(appid: str):
    world = current_world()
    spec = _body()
    with world.lock:
        account = _account(world, appid)
        template_id = str(spec.get("template_id") or world.random_text(43))
        template = {**spec, "template_id": template_id, "title": str(spec.get("title", ""))}
        account.templates[template_id] = template
        return template, 201


@bp.post("/accounts/<appid>/users")
def add_user(appid: str):
    world = current_world()
    with world.lock:
        return world.add_user(_account(world, appid), _body()).to_dict(), 201


def _user(world: World, appid: str, openid: str):
    account = _account(world, appid)
    user = account.user(openid)
    if user is None:
        abort(404, f"账号 {appid} 没有用户 {openid}")
    return account, user


@bp.get("/accounts/<appid>/users/<openid>")
def get_user(appid: str, openid: str):
    world = current_world()
    with world.lock:
        return _user(world, appid, openid)[1].to_dict()


@bp.patch("/accounts/<appid>/users/<openid>")
def change_user(appid: str, openid: str):
    changes = _body()
    allowed = {"nickname": str, "tags": list, "wxname": str, "refuses_templates": bool}
    world = current_world()
    with world.lock:
        user = _user(world, appid, openid)[1]
        for name, value in changes.items():
            if not isinstance(value, allowed.get(name, type(None))):
                raise StateError(f"不能这样修改 {name}")
        for name, value in changes.items():
            setattr(user, name, value)
        return user.to_dict()


@bp.post("/accounts/<appid>/users/<openid>/messages")
def send_as_user(appid: str, openid: str):
    """The user sends a message or triggers an event; answers with the delivery record."""
    world = current_world()
    with world.lock:
        account, user = _user(world, appid, openid)
    return simulate.act(world, account, user, _body())


@bp.get("/accounts/<appid>/deliveries")
def deliveries(appid: str):
    world = current_world()
    with world.lock:
        return jsonify(list(_account(world, appid).deliveries))


@bp.post("/accounts/<appid>/verify")
def verify_server(appid: str):
    """Check the server URL as WeChat's console does when a developer saves it."""
    world = current_world()
    with world.lock:
        account = _account(world, appid)
        target = (account.server_url, account.token)
    return verify.check_server(*target)


@bp.get("/faults")
def list_faults():
    world = current_world()
    with world.lock:
        return {"seed": world.faults.seed, "rules": [r.to_dict() for r in world.faults.rules]}


@bp.post("/faults")
def add_fault():
    world = current_world()
    with world.lock:
        try:
            return world.faults.add(_body()).to_dict(), 201
        except FaultSpecError as exc:
            raise StateError(str(exc)) from exc


@bp.delete("/faults")
def clear_faults():
    world = current_world()
    seed = _body().get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise StateError("seed 必须是整数")
    with world.lock:
        world.faults.clear(seed)
    return {"rules": []}


@bp.delete("/faults/<int:rule_id>")
def remove_fault(rule_id: int):
    world = current_world()
    with world.lock:
        if not world.faults.remove(rule_id):
            abort(404, f"没有故障规则 {rule_id}")
    return {"removed": rule_id}
