"""The draft-submission API through Flask's test client, against the real Redis."""

import json
import logging

import pytest
from click.testing import CliRunner

import app.cli
from app.channels import apitokens
from app.core import audit, keys
from app.core.settings import load_settings
from app.drafts import lifecycle, review, suspension, uploads
from app.registry import owners
from app.web import create_app, openapi
from tests.factories import OPERATOR, actor, refiled, snapshot, world
from tests.images import GIF, JPEG, png

ARTICLE = {"title": "程序设计竞赛", "content_html": "<p>欢迎报名</p>"}


class Api:
    """A test client that speaks as one API token."""

    def __init__(self, client, secret: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.keys = 0

    def create(self, body: dict, *, key: str | None = None, **kwargs):
        if key is None:
            self.keys += 1
            key = f"key-{self.keys}"
        headers = {**self.headers, "Idempotency-Key": key}
        return self.client.post("/api/v1/drafts", json=body, headers=headers, **kwargs)

    def text(self, platform: str, text: str = "计算机学院举办程序设计竞赛", key=None, **extra):
        body = {"platform": platform, "kind": "text", "content": {"text": text}, **extra}
        return self.create(body, key=key)

    def get(self, path: str, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs):
        return self.client.post(f"/api/v1{path}", headers=self.headers, **kwargs)

    def upload(self, data: bytes, content_type: str = "image/png", name: str = "cover.png"):
        body, header = multipart("file", data, content_type, name)
        return self.post("/uploads", data=body, content_type=header)


def multipart(field: str, data: bytes, content_type: str, name: str) -> tuple[bytes, str]:
    """A multipart body built in memory: Werkzeug's builder spools a large one to a temporary
    file it leaves open when the request is refused before reading it."""
    boundary = "qianfa-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def client(r):
    return create_app(load_settings()).test_client()


@pytest.fixture
def w(r):
    return world(r)


@pytest.fixture
def api(r, client, w):
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    return Api(client, secret)


def without_token_use(r) -> dict:
    """Every key but the tokens' hashes, whose last-use time any request updates."""
    return {k: v for k, v in snapshot(r).items() if not k.startswith(b"qianfa:apitoken:")}


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) <= {"error", "message", "field"} and body["message"], body
    return body


def test_create_submits_to_review_by_default(r, api, w):
    """A new draft is created, submitted and answered with its review state and location."""
    response = api.text(w.platform)
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] == "D1" and body["status"] == "in_review" and body["author"] == w.admin
    assert response.headers["Location"].endswith("/api/v1/drafts/D1")
    assert body["content"] == {"text": "计算机学院举办程序设计竞赛"}
    assert body["content_hash"] == lifecycle.get(r, "D1").content_hash
    assert body["review"]["missing"] == ["responsible"] and body["review"]["given"] == []


def test_create_without_submit_leaves_a_draft(api, w):
    """With submit false the new draft stays a draft, not yet in review."""
    body = api.text(w.platform, submit=False).get_json()
    assert body["status"] == "draft"


def test_article_with_flags_needs_the_propaganda_department(api, w):
    """An article flagged as an emergency also needs the propaganda department."""
    article = {**ARTICLE, "cover_image": "https://www.example.edu.cn/cover.jpg"}
    response = api.create(
        {"platform": w.platform, "kind": "article", "content": article, "flags": ["emergency"]}
    )
    assert response.status_code == 201
    assert response.get_json()["review"]["missing"] == ["responsible", "propaganda"]


def test_an_article_without_a_cover_is_saved_but_not_submitted_and_the_field_named(r, api, w):
    """WeChat articles need a cover: refused at submit, before anyone reviews it."""
    body = api.create({"platform": w.platform, "kind": "article", "content": ARTICLE}).get_json()
    assert body["status"] == "draft"
    assert body["submit_error"]["field"] == "cover_image"
    assert "封面" in body["submit_error"]["message"]
    assert lifecycle.get(r, body["id"]).status == lifecycle.DRAFT


def test_retry_with_the_same_key_returns_the_first_answer(r, api, w):
    """The same Idempotency-Key and body replay the stored response; no second draft."""
    first = api.text(w.platform, key="cms-42")
    review.approve(r, actor(w.responsible), "D1", first.get_json()["content_hash"])
    again = api.text(w.platform, key="cms-42")
    assert again.status_code == first.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert len(lifecycle.list_drafts(r)) == 1
    assert len(list(audit.records(r, action="draft.create"))) == 1


def test_same_key_with_another_body_is_refused(r, api, w):
    """The same Idempotency-Key with another body is refused with 422 and changes nothing."""
    api.text(w.platform, key="cms-42")
    before = without_token_use(r)
    response = api.text(w.platform, text="另一篇稿件", key="cms-42")
    assert response.status_code == 422
    assert error_of(response)["error"] == "idempotency_key_reused"
    assert error_of(response)["field"] == "Idempotency-Key"
    assert without_token_use(r) == before


def test_keys_belong_to_their_token(r, client, api, w):
    """Another token's identical key is another request."""
    _, secret = apitokens.issue(r, OPERATOR, w.other_admin, [w.platform])
    api.text(w.platform, key="shared")
    assert Api(client, secret).text(w.platform, key="shared").get_json()["id"] == "D2"


def test_a_refused_create_frees_its_key(r, api, w):
    """A request refused before anything changed does not hold on to its key."""
    suspension.change_status(r, OPERATOR, w.platform, "suspended", "整改")
    refused = api.text(w.platform, key="k")
    assert refused.status_code == 409
    suspension.change_status(r, OPERATOR, w.platform, "active", "整改完成")
    assert api.text(w.platform, key="k").status_code == 201


def test_the_idempotency_key_is_required(r, api, w):
    """Creating without an Idempotency-Key is refused, naming the header."""
    body = {"platform": w.platform, "kind": "text", "content": {"text": "x"}}
    response = api.client.post("/api/v1/drafts", json=body, headers=api.headers)
    assert response.status_code == 400
    assert error_of(response)["field"] == "Idempotency-Key"
    assert lifecycle.list_drafts(r) == []


def test_read_shows_content_hash_and_sign_offs(r, api, w):
    """Reading a draft shows its version, content hash and the sign-offs given."""
    created = api.text(w.platform).get_json()
    review.approve(r, actor(w.responsible), "D1", created["content_hash"])
    body = api.get("/drafts/d1").get_json()
    assert body["status"] == "approved" and body["version"] == 1
    assert body["review"]["complete"] is True and body["review"]["missing"] == []
    [given] = body["review"]["given"]
    assert (given["signoff"], given["person"], given["version"]) == (
        "responsible",
        w.responsible,
        1,
    )


def test_new_version_voids_the_approvals(r, api, w):
    """An approved draft's new version goes back to review with no sign-off."""
    created = api.text(w.platform).get_json()
    review.approve(r, actor(w.responsible), "D1", created["content_hash"])
    response = api.post("/drafts/D1/versions", json={"content": {"text": "改后的正文"}})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["version"]) == ("in_review", 2)
    assert body["review"]["given"] == [] and body["content_hash"] != created["content_hash"]
    [edit] = audit.records(r, action="draft.edit")
    assert edit["via"] == "api" and '"voided_signoffs": true' in edit["detail"]


@pytest.mark.parametrize(("submit", "status"), [(True, "in_review"), (False, "draft")])
def test_new_version_of_a_rejected_draft_is_resubmitted_unless_asked_not_to(
    r, api, w, submit, status
):
    """A rejected draft's new version goes back to review, or stays a draft with submit false."""
    created = api.text(w.platform).get_json()
    review.reject(r, actor(w.responsible), "D1", created["content_hash"], "请补充时间地点")
    body = {"content": {"text": "12 月 1 日在图书馆举办"}, "submit": submit}
    assert api.post("/drafts/D1/versions", json=body).get_json()["status"] == status


def test_new_version_with_the_same_content_is_a_conflict(api, w):
    """A new version must change the content."""
    api.text(w.platform, text="同样")
    response = api.post("/drafts/D1/versions", json={"content": {"text": "同样"}})
    assert response.status_code == 409


def test_withdraw_with_a_reason(r, api, w):
    """Withdrawing records the reason; withdrawing again is a state conflict."""
    api.text(w.platform)
    response = api.post("/drafts/D1/withdraw", json={"reason": "活动取消"})
    assert response.status_code == 200
    assert response.get_json()["status"] == "withdrawn"
    assert response.get_json()["status_reason"] == "活动取消"
    again = api.post("/drafts/D1/withdraw")
    assert again.status_code == 409 and error_of(again)["error"] == "transition"


def test_only_the_author_withdraws(r, client, api, w):
    """Another administrator of the platform may read the draft but not withdraw it."""
    api.text(w.platform)
    _, secret = apitokens.issue(r, OPERATOR, w.other_admin, [w.platform])
    other = Api(client, secret)
    assert other.get("/drafts/D1").status_code == 200
    assert other.post("/drafts/D1/withdraw").status_code == 403
    assert lifecycle.get(r, "D1").status == "in_review"


def test_list_filters_by_platform_status_and_limit(r, client, w):
    """Only the token's platforms, newest first, by platform, status and limit."""
    second = world(r, platform_id="wh-wx")
    third = world(r, platform_id="tw-wx")
    for pid in (second.platform, third.platform):
        refiled(r, owners.add_admin(r, OPERATOR, pid, w.admin, "兼任"))
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform, second.platform])
    api = Api(client, secret)
    api.text(w.platform)
    api.text(second.platform, submit=False)
    api.text(w.platform, text="第二篇")
    lifecycle.create(r, actor(w.admin), third.platform, "text", {"text": "范围外"})
    everything = api.get("/drafts").get_json()["drafts"]
    assert [d["id"] for d in everything] == ["D3", "D2", "D1"]
    assert "content" not in everything[0]
    one = api.get("/drafts", query_string={"platform": second.platform}).get_json()["drafts"]
    assert [d["id"] for d in one] == ["D2"]
    waiting = api.get("/drafts", query_string={"status": "in_review"}).get_json()["drafts"]
    assert [d["id"] for d in waiting] == ["D3", "D1"]
    assert len(api.get("/drafts", query_string={"limit": "1"}).get_json()["drafts"]) == 1
    out = api.get("/drafts", query_string={"platform": third.platform})
    assert out.status_code == 403 and error_of(out)["error"] == "out_of_scope"


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "lost"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit")]
    + [({"platform": "Bad Id"}, "platform"), ({"sort": "id"}, "sort")],
)
def test_list_refuses_bad_parameters(api, query, field):
    """A bad or unknown query parameter is refused, naming it."""
    response = api.get("/drafts", query_string=query)
    assert response.status_code == 400 and error_of(response)["field"] == field


def test_out_of_scope_platform_is_forbidden(r, client, api, w):
    """A token cannot create on, or read from, a platform outside its scope."""
    other = world(r, platform_id="wh-wx")
    lifecycle.create(r, actor(other.admin), other.platform, "text", {"text": "别的平台"})
    before = without_token_use(r)
    created = api.text(other.platform)
    assert created.status_code == 403
    assert error_of(created) == {
        "error": "out_of_scope",
        "message": "API 令牌 T1 无权操作平台 wh-wx",
        "field": "platform",
    }
    assert api.get("/drafts/D1").status_code == 403
    assert without_token_use(r) == before


def test_token_of_a_person_who_lost_the_admin_role_is_refused(r, api, w):
    """Once the person is no longer an administrator, every call with the token is refused."""
    api.text(w.platform)
    refiled(r, owners.remove_admin(r, OPERATOR, w.platform, w.admin, "调岗"))
    before = without_token_use(r)
    for response in (
        api.text(w.platform),
        api.get("/drafts/D1"),
        api.get("/drafts"),
        api.post("/drafts/D1/withdraw"),
        api.upload(png()),
    ):
        assert response.status_code == 403 and error_of(response)["error"] == "not_admin"
    assert without_token_use(r) == before


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer qf_wrong", "Basic dXNlcjpwYXNz", "qf_abc"]
)
def test_missing_or_bad_token_is_401(r, client, w, header):
    """No token, another scheme or an unknown token is 401 with a Bearer challenge."""
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/drafts", headers=headers)
    assert response.status_code == 401 and error_of(response)["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401(r, api, w):
    """A revoked token is refused at once."""
    apitokens.revoke(r, OPERATOR, "T1")
    assert api.text(w.platform).status_code == 401
    assert lifecycle.list_drafts(r) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad_json"),
        (b'{"platform": NaN}', "application/json", 400, "bad_json"),
        (b"\xff\xfe\x00", "application/json", 400, "bad_json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 400, "bad_json"),
        (b'["a list"]', "application/json", 400, "bad_json"),
        (b"", "application/json", 400, "bad_json"),
        (b"platform=jsj-wx", "application/x-www-form-urlencoded", 415, "unsupported_type"),
        (b"{}" + b" " * 300_000, "application/json", 413, "too_large"),
    ],
)
def test_malformed_bodies_are_refused_in_the_one_shape(r, api, data, content_type, status, code):
    """Bad JSON, the wrong type and an oversized body get a JSON error, never a trace."""
    before = without_token_use(r)
    headers = {**api.headers, "Idempotency-Key": "k", "Content-Type": content_type}
    response = api.client.post("/api/v1/drafts", data=data, headers=headers)
    assert response.status_code == status and error_of(response)["error"] == code
    assert "Traceback" not in response.get_data(as_text=True)
    assert without_token_use(r) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "video"}, "kind"),
        ({"content": {"text": "x" * 2001}}, "content"),
        ({"content": {"title": "x"}}, "content"),
        ({"content": "正文"}, "content"),
        ({"flags": "emergency"}, "flags"),
        ({"flags": ["gossip"]}, "flags"),
        ({"scheduled_at": "2020-01-01T08:00"}, "scheduled_at"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": 1767225600}, "scheduled_at"),
        ({"submit": "yes"}, "submit"),
        ({"platform": None}, "platform"),
        ({"author": "P9"}, "author"),
    ],
)
def test_invalid_fields_are_named_and_write_nothing(r, api, w, change, field):
    """Each invalid field is named in the error, and nothing is written."""
    before = without_token_use(r)
    body = {"platform": w.platform, "kind": "text", "content": {"text": "正文"}, **change}
    response = api.create(body, key="same-key")
    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert without_token_use(r) == before


def test_upload_then_use_as_cover(r, api, w):
    """An uploaded PNG becomes a reference the article's cover takes; the worker reads it back."""
    image = png()
    response = api.upload(image)
    assert response.status_code == 201
    ref = response.get_json()["ref"]
    assert ref.startswith("upload:") and response.get_json()["content_type"] == "image/png"
    article = {**ARTICLE, "cover_image": ref}
    created = api.create({"platform": w.platform, "kind": "article", "content": article})
    assert created.status_code == 201 and created.get_json()["content"]["cover_image"] == ref
    stored = uploads.get(r, ref)
    assert stored.data == image and stored.person == w.admin
    [record] = audit.records(r, action="upload.create")
    assert record["via"] == "api" and record["operator"] == "T1"


def test_the_same_image_is_stored_once(r, api):
    """Uploading the same bytes twice gives the same reference and one stored copy."""
    first = api.upload(JPEG, "image/jpeg", "a.jpg").get_json()
    second = api.upload(JPEG, "image/jpg", "b.jpg").get_json()
    assert first == second and len(r.keys(keys.upload("*"))) == 1
    assert len(list(audit.records(r, action="upload.create"))) == 1


def test_cover_must_be_an_existing_upload(r, api, w):
    """An article cannot name an upload that does not exist as its cover."""
    article = {**ARTICLE, "cover_image": "upload:" + "0" * 64}
    response = api.create({"platform": w.platform, "kind": "article", "content": article})
    assert response.status_code == 400 and error_of(response)["field"] == "content.cover_image"
    assert lifecycle.list_drafts(r) == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (png(uploads.MAX_BYTES), "image/png", 413),
        (png(3 * uploads.MAX_BYTES), "image/png", 413),
        (GIF, "image/gif", 415),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 415),
        (JPEG, "image/png", 415),
        (b"", "image/png", 400),
    ],
)
def test_oversized_and_wrong_type_uploads_write_nothing(r, api, data, content_type, status):
    """Too large, not JPEG/PNG by its bytes, or mislabelled: refused and nothing stored."""
    before = without_token_use(r)
    response = api.upload(data, content_type)
    assert response.status_code == status
    assert error_of(response)["message"]
    assert without_token_use(r) == before


def test_upload_needs_multipart_with_a_file(r, api):
    """An upload must be multipart with a file field."""
    assert api.post("/uploads", data=png(), content_type="image/png").status_code == 415
    empty = api.post("/uploads", data={"other": "x"}, content_type="multipart/form-data")
    assert empty.status_code == 400 and error_of(empty)["field"] == "file"


def test_api_submission_is_in_the_audit_export(r, api, w):
    """The API's create and submit appear in `qianfa audit export` as the person, via the token."""
    api.text(w.platform)
    records = list(audit.records(r, draft="D1"))
    assert [rec["action"] for rec in records] == ["draft.create", "draft.screen", "draft.submit"]
    by_api = [rec for rec in records if rec["action"] != "draft.screen"]
    assert all(
        (rec["via"], rec["person"], rec["operator"]) == ("api", w.admin, "T1") for rec in by_api
    )
    exported = CliRunner().invoke(app.cli.cli, ["audit", "export", "--draft", "D1"])
    rows = [json.loads(line) for line in exported.output.splitlines() if line.startswith("{")]
    assert [(row["action"], row["via"]) for row in rows] == [
        ("draft.create", "api"),
        ("draft.screen", "system"),
        ("draft.submit", "api"),
    ]
    assert audit.verify(r).ok


def test_the_token_is_never_logged(r, client, w, caplog):
    """No log line carries the token's secret."""
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    api = Api(client, secret)
    with caplog.at_level(logging.DEBUG):
        api.text(w.platform)
        api.get("/drafts/D404")
        api.create({"platform": w.platform}, key="k2")
    assert secret not in caplog.text


def test_unknown_routes_and_methods_answer_in_the_one_shape(api):
    """Unknown routes and methods get the JSON error shape, in Chinese."""
    missing = api.get("/nothing")
    assert missing.status_code == 404 and error_of(missing)["message"] == "没有这个地址"
    wrong = api.client.delete("/api/v1/drafts/D1", headers=api.headers)
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert error_of(api.get("/drafts/D404"))["error"] == "not_found"


def test_openapi_document_lists_every_route(client):
    """Every route of the api blueprint is in the document, and the document has no other."""
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    routes = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, m) for path, ops in spec["paths"].items() for m in ops}
    assert documented == routes


def test_openapi_content_schemas_match_the_domain():
    """The document's content schemas have exactly the fields the domain accepts."""
    for kind, fields in lifecycle.CONTENT_FIELDS.items():
        assert set(openapi.CONTENT[kind]["properties"]) == fields
    assert set(openapi.CONTENT) == set(lifecycle.KINDS)


def test_a_saved_draft_that_cannot_be_submitted_says_why(r, api, w):
    """When submitting fails after saving, the answer is the saved draft with the reason."""
    created = api.text(w.platform).get_json()
    review.reject(r, actor(w.responsible), "D1", created["content_hash"], "请补充")
    suspension.change_status(r, OPERATOR, w.platform, "suspended", "整改")
    response = api.post("/drafts/D1/versions", json={"content": {"text": "补充后的正文"}})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["version"]) == ("draft", 2)
    assert (
        body["submit_error"]["error"] == "conflict" and "已停用" in body["submit_error"]["message"]
    )
