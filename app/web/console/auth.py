"""Sign-in, sessions and CSRF for the console; refusals are rendered and audited here.

The session cookie holds only a random token (HttpOnly, SameSite=Lax, Secure behind
https). Before every request the session is looked up in Redis; every POST must carry
the session's CSRF token, and the sign-in form a token of its own pre-session cookie,
which Qianfa signed (a value planted in the browser by someone else is never taken).
"""

import hmac
import logging

import redis
from flask import g, make_response, redirect, render_template, request, url_for

from app.channels import console_accounts
from app.core import audit
from app.core.errors import Forbidden, InvalidInput, QianfaError
from app.core.masterkey import load_keyring
from app.registry import access, people
from app.web import redis_client, settings
from app.web.console import bp

log = logging.getLogger(__name__)
COOKIE = "qianfa_console"
PRE_COOKIE = "qianfa_console_pre"
OPEN_ENDPOINTS = {"console.sign_in", "console.static"}
WHILE_MUST_CHANGE = {"console.password", "console.sign_out"}
# Messages shown after a redirect, named by a code in the query so a link cannot word them.
NOTES = {
    "expired": "会话已过期,请重新登录",
    "signed_out": "已退出登录",
    "password": "密码已修改",
    "status": "平台状态已更改",
    "signed": "审批意见已登记",
    "reviewed": "审核意见已提交",
    "owners": "已变更",
    "secret": "密钥已设置(不会显示其内容)",
    "alert": "告警状态已更新",
    "takedown": "已提交下架,完成后会通知提出人、作者和第一责任人",
    "report": "已收到你的举报,党委宣传部会处理",
    "released": "已放行并送审,已通知作者",
    "scheduled": "发布时间已更改,审核签发不变",
    "reply_reviewed": "默认回复的审核意见已登记",
    "reply_proposed": "新的默认回复已提交,须经平台第一责任人审核后启用,此前仍用原回复",
}


def address() -> str:
    """The client's address; behind ``QIANFA_TRUSTED_PROXIES`` proxies, ProxyFix found it."""
    return request.remote_addr or ""


def me() -> console_accounts.Session:
    return g.console


def actor() -> audit.Actor:
    return console_accounts.actor(me().person, address())


def refuse(code: str, message: str, status: int = 403, person: str = ""):
    """Audit a refused request (before sign-in only up to the cap) and show why."""
    detail = {"why": code, "path": request.path[:200], "method": request.method}
    console_accounts.refused(
        redis_client(), settings(), console_accounts.actor(person, address()), detail
    )
    return render_template("console/error.html", message=message), status


def _cookie_args() -> dict:
    return {
        "httponly": True,
        "samesite": "Lax",
        "secure": settings().public_url.startswith("https://"),
        "path": "/console",
    }


@bp.before_request
def load_session():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    token = request.cookies.get(COOKIE, "")
    current = console_accounts.session(redis_client(), settings(), token)
    if current is None:
        if token:
            refuse("session_expired", "会话已过期", 401)
            return _to_sign_in("expired")
        return _to_sign_in("")
    g.console = current
    if request.method == "POST" and not console_accounts.csrf_ok(current, request.form.get("csrf")):
        return refuse("csrf", "表单已失效(CSRF 校验失败),请刷新页面后重试", 400, current.person)
    if current.must_change and request.endpoint not in WHILE_MUST_CHANGE:
        return redirect(url_for("console.password"))
    return None


def _to_sign_in(message: str):
    response = redirect(url_for("console.sign_in", note=message or None))
    response.delete_cookie(COOKIE, path="/console")
    return response


@bp.app_context_processor
def template_helpers():
    current = g.get("console")
    name, propaganda = "", False
    if current:
        propaganda = access.has_role(redis_client(), current.person, access.PROPAGANDA)
        try:
            name = people.get(redis_client(), current.person).name
        except QianfaError:
            name = current.person
    return {
        "me": current,
        "my_name": name,
        "propaganda": propaganda,
        "csrf": current.csrf if current else "",
        "note": NOTES.get(request.args.get("note", "")),
    }


@bp.errorhandler(QianfaError)
def domain_error(error: QianfaError):
    """Render a refusal from the domain as a page; refusals of access are audited."""
    current = g.get("console")
    if isinstance(error, Forbidden) and current:
        return refuse(error.code, error.message, 403, current.person)
    return render_template("console/error.html", message=error.message), error.status


@bp.errorhandler(redis.RedisError)
def redis_down(exc: redis.RedisError):
    """Show a page, not the API's JSON, when Redis is unreachable."""
    log.error("redis unavailable: %s", exc)
    g.pop("console", None)  # the page header would read the person's name from Redis
    return render_template("console/error.html", message="数据存储暂时不可用,请稍后再试"), 503


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    keyring = load_keyring(settings())
    cookie = request.cookies.get(PRE_COOKIE, "")
    issued = console_accounts.signin_form_token_ok(keyring, settings(), cookie)
    pre = cookie if issued else console_accounts.signin_form_token(keyring)
    errors, status = {}, 200
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not issued or not hmac.compare_digest(cookie.encode(), sent.encode()):
            return refuse("csrf", "表单已失效(CSRF 校验失败),请刷新页面后重试", 400)
        try:
            session = console_accounts.sign_in(
                redis_client(),
                settings(),
                request.form.get("person", ""),
                request.form.get("password", ""),
                address(),
                replaces=request.cookies.get(COOKIE, ""),
            )
        except QianfaError as error:
            errors, status = {"form": error.message}, error.status
        else:
            response = redirect(url_for("console.dashboard"))
            response.set_cookie(COOKIE, session.token, **_cookie_args())
            response.delete_cookie(PRE_COOKIE, path="/console")
            return response
    page = render_template(
        "console/signin.html",
        pre=pre,
        errors=errors,
        person=request.form.get("person", ""),
    )
    response = make_response(page, status)
    response.set_cookie(PRE_COOKIE, pre, **_cookie_args())
    return response


@bp.post("/signout")
def sign_out():
    console_accounts.sign_out(redis_client(), me(), address())
    return _to_sign_in("signed_out")


@bp.route("/password", methods=["GET", "POST"])
def password():
    errors = {}
    if request.method == "POST":
        new = request.form.get("password", "")
        try:
            if new != request.form.get("confirm", ""):
                raise InvalidInput("两次输入的新密码不一致", field="confirm")
            old = request.form.get("old_password")
            console_accounts.change_own_password(redis_client(), me(), old, new)
        except InvalidInput as error:
            errors = {error.field or "form": error.message}
        else:
            return redirect(url_for("console.dashboard", note="password"))
    return render_template("console/password.html", errors=errors), 400 if errors else 200
