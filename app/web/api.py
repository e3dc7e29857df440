"""``/api/v1``: the draft-submission API for editors and their CMSs, JSON in and out.

Every request but the OpenAPI document carries ``Authorization: Bearer <API token>``.
The token names a person and the platforms it may be used on; the person's stored roles
decide, at each request, what it may do there. Views parse the request, call the domain
and render; every error takes the one JSON shape of ``app.web.errors``.
"""

import json
from contextlib import contextmanager
from datetime import timedelta

from flask import Blueprint, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.channels import apitokens, idempotency
from app.core import validate
from app.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    QianfaError,
    TooLarge,
    Unauthorized,
    UnsupportedType,
)
from app.core.store import now
from app.drafts import lifecycle, release, uploads
from app.publishing import articles, manual
from app.registry import platforms
from app.web import openapi, redis_client, representations, settings
from app.web.errors import render

bp = Blueprint("api", __name__, url_prefix="/api/v1")

JSON_MAX_BYTES = 256 * 1024
MULTIPART_OVERHEAD = 64 * 1024
LIST_DEFAULT, LIST_MAX = 50, 100
CREATE_FIELDS = (
    "platform",
    "contributed_from",
    "kind",
    "content",
    "flags",
    "scheduled_at",
    "submit",
)
VERSION_FIELDS = ("content", "submit")
WITHDRAW_FIELDS = ("reason",)
RELEASE_FIELDS = ("reason", "whitelist")
PUBLISHED_FIELDS = ("url",)
SCHEDULE_FIELDS = ("scheduled_at",)
LIST_PARAMS = ("platform", "status", "limit")


@bp.before_request
def limit_body():
    """Refuse a body over its limit before reading it: JSON is small, a cover is 2 MB."""
    upload = request.endpoint == "api.upload_image"
    request.max_content_length = (
        uploads.MAX_BYTES + MULTIPART_OVERHEAD if upload else JSON_MAX_BYTES
    )


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(exc):
    if request.endpoint == "api.upload_image":
        return render(
            TooLarge(f"图片过大:最多 {uploads.MAX_BYTES // 1024 // 1024} MB", field="file")
        )
    return render(TooLarge(f"请求体过大:最多 {JSON_MAX_BYTES // 1024} KB"))


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.SPEC)


@bp.post("/drafts")
def create_draft():
    """Create a draft and, unless ``submit`` is false, send it to review; once per key."""
    token, r = authenticated()
    body = json_body(CREATE_FIELDS, required=("platform", "kind", "content"))
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    platform, source = target(r, token, body)
    stored = idempotency.begin(r, token.id, key, body)
    if stored:
        return respond(stored.status, stored.body, replayed=True)
    try:
        submit = boolean(body, "submit")
        draft = _create(r, token, platform, source, body)
    except Exception:
        idempotency.abandon(r, token.id, key)
        raise
    answer = _submitted(r, token, draft) if submit else {}
    answer = {**representations.draft(r, draft.id), **answer}
    idempotency.finish(r, token.id, key, body, 201, answer)
    return respond(201, answer)


@bp.get("/drafts/<draft_id>")
def get_draft(draft_id):
    token, r = authenticated()
    draft = visible(r, token, draft_id)
    return respond(200, representations.draft(r, draft.id))


@bp.post("/drafts/<draft_id>/versions")
def new_version(draft_id):
    """Save new content as the next version (its sign-offs start over) and resubmit it."""
    token, r = authenticated()
    body = json_body(VERSION_FIELDS, required=("content",))
    draft = visible(r, token, draft_id)
    resubmit = boolean(body, "submit")
    with field("content"):
        content = lifecycle.validate_content(draft.kind, body["content"])
    require_uploads(r, content)
    edited = lifecycle.edit(r, token.actor(), draft.id, content)
    answer = _submitted(r, token, edited) if resubmit and edited.status == lifecycle.DRAFT else {}
    return respond(201, {**representations.draft(r, draft.id), **answer})


@bp.post("/drafts/<draft_id>/withdraw")
def withdraw_draft(draft_id):
    token, r = authenticated()
    body = json_body(WITHDRAW_FIELDS)
    draft = visible(r, token, draft_id)
    with field("reason"):
        reason = validate.text(
            body.get("reason"), "撤回原因", max_len=validate.REASON_MAX, required=False
        )
    lifecycle.withdraw(r, token.actor(), draft.id, reason)
    return respond(200, representations.draft(r, draft.id))


@bp.post("/drafts/<draft_id>/release")
def release_draft(draft_id):
    """The propaganda department releases a blocked draft into review (放行)."""
    token, r = authenticated()
    body = json_body(RELEASE_FIELDS, required=("reason",))
    draft = visible(r, token, draft_id)
    whitelist = boolean(body, "whitelist", default=False)
    with field("reason"):
        reason = validate.text(body["reason"], "放行理由", max_len=validate.REASON_MAX)
    release.release(r, token.actor(), draft.id, reason, whitelist=whitelist)
    return respond(200, representations.draft(r, draft.id))


@bp.post("/drafts/<draft_id>/schedule")
def schedule_draft(draft_id):
    """Set (or with null clear) the publish time; the content, and so the sign-offs, stay."""
    token, r = authenticated()
    body = json_body(SCHEDULE_FIELDS, required=())
    if "scheduled_at" not in body:
        raise InvalidInput("缺少字段 scheduled_at(取消定时请写 null)", field="scheduled_at")
    draft = visible(r, token, draft_id)
    when = scheduled(body["scheduled_at"])
    lifecycle.reschedule(r, token.actor(), draft.id, when)
    return respond(200, representations.draft(r, draft.id))


@bp.post("/drafts/<draft_id>/published")
def report_published(draft_id):
    """A draft of a platform without a publishing API was published by hand: report its page.

    202: the page is fetched and compared by a job; ``status_url`` answers how it went.
    """
    token, r = authenticated()
    body = json_body(PUBLISHED_FIELDS, required=("url",))
    draft = visible(r, token, draft_id)
    with field("url"):
        check = manual.accept(r, token.actor(), draft.id, body["url"])
    status_url = url_for("api.published_check", draft_id=draft.id)
    answer = {**representations.draft(r, draft.id), "verification": check.to_dict()}
    return respond(202, {**answer, "status_url": status_url}, headers={"Location": status_url})


@bp.get("/drafts/<draft_id>/published")
def published_check(draft_id):
    """How the check of the latest reported page went (``checking`` until the job ran)."""
    token, r = authenticated()
    draft = visible(r, token, draft_id)
    check = manual.current_check(r, draft.id)
    if check is None:
        raise NotFound(f"稿件 {draft.id} 还没有报告过发布链接")
    return respond(200, {**representations.draft(r, draft.id), "verification": check.to_dict()})


@bp.get("/drafts")
def list_drafts():
    """Newest first, on the token's platforms (or one of them), optionally in one status."""
    token, r = authenticated()
    args = query(LIST_PARAMS)
    if args.get("platform"):
        platform_ids = [scoped(r, token, args["platform"])]
    else:
        platform_ids = usable(r, token)
    status = args.get("status")
    if status is not None:
        with field("status"):
            status = validate.choice(status, lifecycle.STATUSES, "稿件状态")
    found = newest(r, platform_ids, status, parse_limit(args.get("limit")))
    return respond(200, {"drafts": [representations.summary(d) for d in found]})


@bp.post("/uploads")
def upload_image():
    """Keep a JPEG or PNG cover; answer the reference that ``content.cover_image`` takes."""
    token, r = authenticated()
    usable(r, token)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedType("请用 multipart/form-data 上传,文件放在 file 字段", field="file")
    file = request.files.get("file")
    if file is None:
        raise InvalidInput("缺少文件字段 file", field="file")
    data = file.read(uploads.MAX_BYTES + 1)
    saved = uploads.save(r, token.actor(), data, file.mimetype, uploads.Quota.of(settings()))
    return respond(201, representations.upload(saved))


def authenticated():
    """The token of this request and the Redis client; 401 without a valid one."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("缺少 API 令牌:请求头应为 Authorization: Bearer <令牌>")
    r = redis_client()
    return apitokens.authenticate(r, credential.strip()), r


def scoped(r, token: apitokens.ApiToken, raw_platform) -> str:
    with field("platform"):
        return apitokens.authorize(r, token, raw_platform)


def usable(r, token: apitokens.ApiToken) -> list[str]:
    """The platforms the token may still be used on; 403 when there are none left."""
    platform_ids = apitokens.usable_platforms(r, token)
    if not platform_ids:
        raise Forbidden(f"API 令牌 {token.id} 已不能用于任何平台", code="not_admin")
    return platform_ids


def target(r, token: apitokens.ApiToken, body: dict) -> tuple[str, str]:
    """The platform and, for a unit's contribution to a tier-1 platform, the token's
    platform it comes from (art. 14)."""
    with field("platform"):
        pid = platforms.platform_id(body["platform"])
    chosen = body.get("contributed_from") or ""
    source = ""
    if pid not in token.platforms or chosen:
        with field("contributed_from"):
            source = apitokens.contribution_source(r, token, pid, chosen)
    return (pid, source) if source else (scoped(r, token, pid), "")


def visible(r, token: apitokens.ApiToken, raw_id: str) -> lifecycle.Draft:
    """The draft, if it is on (or contributed from) a platform this token may be used on."""
    draft = lifecycle.get(r, raw_id)
    apitokens.authorize(r, token, draft.contributed_from or draft.platform)
    return draft


def _create(r, token: apitokens.ApiToken, platform: str, source: str, body: dict):
    with field("kind"):
        kind = validate.choice(body["kind"], lifecycle.KINDS, "稿件类型")
    with field("content"):
        content = lifecycle.validate_content(kind, body["content"])
    require_uploads(r, content)
    return lifecycle.create(
        r,
        token.actor(),
        platform,
        kind,
        content,
        flags=flags(body.get("flags")),
        scheduled_at=scheduled(body.get("scheduled_at")),
        contributed_from=source,
    )


def _submitted(r, token: apitokens.ApiToken, draft: lifecycle.Draft) -> dict:
    """Submit what was just saved; if that fails, it stays saved and the answer says why."""
    try:
        lifecycle.submit(r, token.actor(), draft.id)
    except QianfaError as exc:
        return {"submit_error": exc.to_dict()}
    return {}


def require_uploads(r, content: dict) -> None:
    """Claim the uploads the content uses, so that they no longer expire; 400 for a missing one."""
    used = [("content.cover_image", content.get("cover_image", ""))]
    html = content.get("content_html", "")
    used += [("content.content_html", src) for src in articles.inline_images(html)]
    for name, ref in used:
        if uploads.is_ref(ref):
            with field(name):
                uploads.claim(r, ref)


def flags(raw) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput('flags 须为数组,如 ["major_event"]', field="flags")
    with field("flags"):
        return tuple(validate.choice(flag, lifecycle.FLAGS, "敏感标记") for flag in raw)


def scheduled(raw):
    """The same rule ``drafts`` applies, checked here so the error names its field."""
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput(
            "定时发布时间须为 ISO 8601 文字,如 2026-12-01T08:00+08:00", field="scheduled_at"
        )
    with field("scheduled_at"):
        when = validate.moment(raw, "定时发布时间")
        if when is not None and when < now() - timedelta(minutes=1):
            raise InvalidInput("定时发布时间不能早于现在")
    return when


def boolean(body: dict, name: str, default: bool = True) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} 须为 true 或 false", field=name)
    return value


def parse_limit(raw) -> int:
    if raw is None:
        return LIST_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_MAX:
        raise InvalidInput(f"limit 须为 1–{LIST_MAX} 的整数", field="limit")
    return int(raw)


def newest(r, platform_ids: list[str], status: str | None, count: int) -> list[lifecycle.Draft]:
    """The newest drafts over several platforms: each platform's newest, merged."""
    if status:
        return lifecycle.list_across(r, platform_ids, status, count)
    found = [
        draft
        for pid in platform_ids
        for draft in lifecycle.list_drafts(r, platform=pid, limit=count)
    ]
    found.sort(key=lambda d: (d.created_at, int(d.id[1:])), reverse=True)
    return found[:count]


def json_body(allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    """The request's JSON object: no field outside ``allowed``, none of ``required`` missing."""
    raw = request.get_data()
    if not raw and not required:
        return {}
    if not raw:
        raise InvalidInput("请求体不能为空:应为 JSON 对象", code="bad_json")
    if not request.is_json:
        raise UnsupportedType("请求体须为 JSON,请设置 Content-Type: application/json")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("请求体不是有效的 JSON", code="bad_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("请求体须为 JSON 对象", code="bad_json")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(f"不认识的字段:{unknown[0][:40]!r}", field=unknown[0][:40])
    for name in required:
        if body.get(name) is None:
            raise InvalidInput(f"缺少字段 {name}", field=name)
    return body


def query(allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise InvalidInput(f"不认识的查询参数:{unknown[0][:40]!r}", field=unknown[0][:40])
    return {name: value for name, value in request.args.items() if value != ""}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@contextmanager
def field(name: str):
    """Name the field an error raised inside is about, unless it names one already."""
    try:
        yield
    except QianfaError as exc:
        exc.field = exc.field or name
        raise


def respond(status: int, body: dict, *, replayed: bool = False, headers: dict | None = None):
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    if status == 201 and "id" in body:
        response.headers["Location"] = url_for("api.get_draft", draft_id=body["id"])
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
