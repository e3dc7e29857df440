"""People, roles, WeChat bindings, API tokens, console passwords and platform credentials.

Only the propaganda department uses these pages; each domain call checks that again.
A bind code is shown once, on the page that issued it; a secret is never shown at all.
"""

from flask import redirect, render_template, request, url_for

from app.channels import apitokens, console_accounts
from app.core import validate
from app.core.errors import InvalidInput, QianfaError
from app.core.masterkey import load_keyring
from app.registry import access, bindcodes, credentials, people
from app.web import redis_client, settings
from app.web.console import bp
from app.web.console.auth import actor
from app.web.console.forms import collect, field_of

SECRET_LABELS = {
    "app_secret": "AppSecret",
    "token": "Token(令牌)",
    "encoding_aes_key": "EncodingAESKey(消息加解密密钥)",
    "forward_token": "原服务器 Token(转发用)",
    "login_name": "后台登录名(第十六条)",
    "login_password": "后台登录密码(第十六条)",
}
PERSON_CHECKS = {
    "name": lambda v: validate.text(v, "姓名", max_len=32),
    "title": lambda v: validate.text(v, "职务", max_len=32, required=False),
    "phone": lambda v: validate.optional_pattern(v, validate.PHONE, "联系电话"),
    "email": lambda v: validate.optional_pattern(v, validate.EMAIL, "E-mail"),
    "qq": lambda v: validate.optional_pattern(v, validate.QQ, "QQ 号"),
}


def _propaganda_only(r) -> None:
    access.authorize(r, actor(), (access.PROPAGANDA,), "管理人员与密钥")


@bp.route("/people", methods=["GET", "POST"])
def people_page():
    r = redis_client()
    _propaganda_only(r)
    errors = {}
    if request.method == "POST":
        values, errors = collect(PERSON_CHECKS)
        if not errors:
            try:
                person = people.create(r, actor(), **values)
            except QianfaError as error:
                errors = field_of(error)
            else:
                return redirect(url_for("console.person_page", pid=person.id))
    everyone = people.all_people(r)
    return render_template(
        "console/people.html",
        people=everyone,
        grants={p.id: sorted(people.grants(r, p.id)) for p in everyone},
        access={p.id: console_accounts.has_password(r, p.id) for p in everyone},
        errors=errors,
        form=request.form,
    ), (400 if errors else 200)


def _render_person(pid: str, errors: dict | None = None, code: str = "", status: int = 200):
    r = redis_client()
    _propaganda_only(r)
    person = people.get(r, pid)
    grants = people.grants(r, person.id)
    page = render_template(
        "console/person.html",
        person=person,
        grants=sorted(grants),
        platforms=sorted({g.split("@", 1)[1] for g in grants if "@" in g}),
        bindings=bindcodes.bindings_of(r, person.id),
        tokens=apitokens.list_tokens(r, person.id),
        has_password=console_accounts.has_password(r, person.id),
        college_roles={role: access.ROLES[role] for role in access.COLLEGE_ROLES},
        errors=errors or {},
        code=code,
    )
    return page, status


@bp.get("/people/<pid>")
def person_page(pid: str):
    return _render_person(pid)


def _issue_code(r, pid: str, form) -> str:
    keyring, ttl = load_keyring(settings()), settings().bind_code_ttl
    return bindcodes.issue(r, keyring, actor(), pid, form.get("platform", ""), ttl)


def _unbind(r, pid: str, form) -> str:
    bindcodes.unbind(
        r, actor(), form.get("platform", ""), form.get("openid", ""), form.get("reason", "")
    )
    return ""


def _revoke_token(r, pid: str, form) -> str:
    apitokens.revoke(r, actor(), form.get("token", ""), form.get("reason", ""))
    return ""


def _grant(r, pid: str, form) -> str:
    people.grant_college_role(r, actor(), pid, form.get("role", ""))
    return ""


def _revoke(r, pid: str, form) -> str:
    people.revoke_college_role(r, actor(), pid, form.get("role", ""))
    return ""


def _password(r, pid: str, form) -> str:
    console_accounts.set_password(r, actor(), pid, form.get("password", ""), must_change=True)
    return ""


PERSON_ACTIONS = {
    "bind-code": _issue_code,
    "unbind": _unbind,
    "revoke-token": _revoke_token,
    "grant": _grant,
    "revoke": _revoke,
    "password": _password,
}


@bp.post("/people/<pid>/<what>")
def person_action(pid: str, what: str):
    """One change to a person; the bind code, if one was issued, is shown on this answer only."""
    r = redis_client()
    _propaganda_only(r)
    if what not in PERSON_ACTIONS:
        return render_template("console/error.html", message="没有这个操作"), 404
    try:
        code = PERSON_ACTIONS[what](r, pid, request.form)
    except QianfaError as error:
        return _render_person(pid, {what: error.message}, status=error.status)
    return _render_person(pid, code=code)


@bp.route("/platforms/<pid>/credentials", methods=["GET", "POST"])
def credentials_page(pid: str):
    """Whether each secret is set and when it changed; set or rotate one, never see one."""
    r = redis_client()
    _propaganda_only(r)
    platform = console_accounts.platform_for(r, actor().person, pid)
    errors, status = {}, 200
    if request.method == "POST":
        name = request.form.get("name", "")
        try:
            if name not in credentials.NAMES:
                raise InvalidInput("请选择要设置的密钥")
            value = request.form.get("value", "").strip()
            credentials.set_secret(r, load_keyring(settings()), actor(), platform.id, name, value)
        except QianfaError as error:
            errors, status = {"value": error.message}, error.status
        else:
            return redirect(url_for("console.credentials_page", pid=platform.id, note="secret"))
    return render_template(
        "console/credentials.html",
        p=platform,
        state=credentials.status(r, platform.id),
        labels=SECRET_LABELS,
        errors=errors,
    ), status
