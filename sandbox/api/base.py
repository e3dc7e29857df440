"""What every ``/cgi-bin/`` endpoint does before its own work, and how errors are answered.

Order of a call: faults chosen for (AppID, endpoint) → the body read in full, without the
lock → access_token checked (41001, 40001, 42001) → daily quota counted (45009) → the view,
under the world lock. Views return a dict (HTTP 200 JSON) or raise ``WeChatError``;
anything else becomes WeChat's ``-1 system error``, never a stack trace.
"""

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox import quotas, tokens
from sandbox.errors import WeChatError, error_body
from sandbox.faults import Action
from sandbox.state import Account, World

log = logging.getLogger(__name__)

# An unescaped \uXXXX in the raw JSON text (an even run of backslashes before it).
UNICODE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u([0-9a-fA-F]{4})")
GATEWAY_PAGE = (
    "<html><head><title>{code}</title></head><body><center><h1>{code}</h1></center></body></html>"
)


def current_world() -> World:
    return current_app.extensions["sandbox"]


def parse_json(raw: bytes) -> dict:
    """Parse a request body as WeChat does: 44002 when empty, 47001 when not a JSON object.

    WeChat does not decode ``\\uXXXX`` escapes (Chinese sent by ``json.dumps`` with its
    default ``ensure_ascii`` shows up as ``\\u4f60`` on the phone), so they stay literal here.
    """
    if not raw.strip():
        raise WeChatError(44002)
    try:
        text = UNICODE_ESCAPE.sub(lambda m: m.group(1) + "\\\\u" + m.group(2), raw.decode("utf-8"))
        data = json.loads(text)
    except ValueError as exc:
        raise WeChatError(47001) from exc
    if not isinstance(data, dict):
        raise WeChatError(47001)
    return data


@dataclass
class Call:
    """One API request as a view sees it."""

    world: World
    endpoint: str
    account: Account | None

    @property
    def args(self):
        return request.args

    @cached_property
    def json(self) -> dict:
        return parse_json(request.get_data(cache=True))

    def text(self, name: str, default: str = "") -> str:
        """A string field of the JSON body; numbers are accepted as WeChat accepts them."""
        value = self.json.get(name, default)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise WeChatError(47001)
        return str(value)

    def integer(self, name: str, default: int = 0) -> int:
        value = self.json.get(name, default)
        if isinstance(value, bool):
            raise WeChatError(47001)
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise WeChatError(47001) from exc


def _apply_fault(world: World, action: Action | None) -> Response | None:
    """Carry out a fault: an error answer, a gateway error, or a delay."""
    if action is None:
        return None
    if action.kind == "latency":
        world.stopping.wait(float(action.value))
        return None
    if action.kind == "timeout":
        world.stopping.wait(world.config.fault_hang)
        raise WeChatError(-1)
    if action.kind == "http_status":
        page = GATEWAY_PAGE.format(code=action.value)
        return Response(page, status=int(action.value), mimetype="text/html")
    raise WeChatError(45009 if action.kind == "quota" else int(action.value))


def wechat_api(bp: Blueprint, path: str, methods=("POST",), auth: bool = True, appid=None):
    """Register ``view(call)`` at ``/cgi-bin/<path>``.

    ``auth`` endpoints take ``access_token`` from the query; the token endpoints pass
    ``appid`` instead, a function that finds the AppID for choosing faults.
    """

    def decorator(view: Callable[[Call], dict]):
        def handle():
            world = current_world()
            if request.method not in methods:
                raise WeChatError(43002 if "POST" in methods else 43001)
            token = request.args.get("access_token")
            named = None if auth else appid()  # stable_token reads its body: not under the lock
            with world.lock:
                target = tokens.owner(world, token) if auth else named
                action = world.faults.pick(target, path)
            fault = _apply_fault(world, action)
            if fault is not None:
                return fault
            # Read the whole body before taking the lock: a slow or stalled upload must not
            # hold up every other account's calls. Form parsing later reads this cached copy.
            request.get_data(cache=True)
            with world.lock:
                account = tokens.authenticate(world, token) if auth else None
                if account is not None:
                    quotas.count(world, account, path)
                return jsonify(view(Call(world, path, account)))

        bp.add_url_rule(
            f"/{path}", endpoint=path.replace("/", "_"), view_func=handle, methods=["GET", "POST"]
        )
        return view

    return decorator


def _wechat_error(exc: WeChatError):
    return jsonify(exc.body())


def _http_error(exc: HTTPException):
    if not request.path.startswith("/cgi-bin/"):
        return jsonify({"error": exc.description or exc.name}), exc.code
    if exc.code == 404 and not request.args.get("access_token"):
        return jsonify(error_body(41001))  # WeChat checks the token before the path
    codes = {404: 48001, 413: 45001, 400: 47001}
    return jsonify(error_body(codes.get(exc.code, -1)))


def _unexpected(exc: Exception):
    log.exception("sandbox error on %s", request.path)
    if request.path.startswith("/cgi-bin/"):
        return jsonify(error_body(-1))
    return jsonify({"error": "沙箱内部错误"}), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(WeChatError, _wechat_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
