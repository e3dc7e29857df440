"""Bad input, uploads and the draft box, through wechatpy and raw HTTP."""

import io
import json
import socket

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from sandbox import create_app
from sandbox.client import SandboxControl
from sandbox.config import SandboxConfig
from sandbox.server import serve_in_thread
from tests.sandbox_helpers import (
    FAST,
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\0" * 64
MB = 1024 * 1024


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, world):
        register_sample_account(control)
        client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET, auto_retry=False, timeout=10)
        yield url, client


def raw_post(url: str, client, path: str, body: bytes) -> dict:
    params = {"access_token": client.access_token}
    return requests.post(f"{url}/cgi-bin/{path}", params=params, data=body, timeout=10).json()


def errcode_of(call) -> int:
    with pytest.raises(WeChatClientException) as raised:
        call()
    return raised.value.errcode


def upload(url: str, client, path: str, name: str, data: bytes, **params) -> dict:
    params["access_token"] = client.access_token
    files = {"media": (name, data)}
    return requests.post(f"{url}/cgi-bin/{path}", params=params, files=files, timeout=30).json()


def cover(client) -> str:
    return client.material.add("image", ("cover.png", io.BytesIO(PNG)))["media_id"]


def article(thumb: str, **fields) -> dict:
    return {"title": "招生简章", "content": "<p>欢迎报考</p>", "thumb_media_id": thumb, **fields}


def test_empty_body_is_44002_and_bad_json_47001(sandbox):
    """An empty POST body is 44002 "empty post data"; a body that is not JSON is 47001."""
    url, client = sandbox
    assert raw_post(url, client, "draft/add", b"")["errcode"] == 44002
    assert raw_post(url, client, "draft/add", b"{not json")["errcode"] == 47001
    assert raw_post(url, client, "draft/add", b"[1, 2]")["errcode"] == 47001


def test_wrong_method_and_unknown_api(sandbox):
    """POST to the GET-only draft/count is 43001; an API the sandbox lacks is 48001."""
    url, client = sandbox
    assert raw_post(url, client, "draft/count", b"{}")["errcode"] == 43001
    assert errcode_of(lambda: client.get("menu/get")) == 48001


def test_unexpected_error_is_system_error_without_a_trace():
    """A crash inside an API view answers WeChat's -1 with HTTP 200, not a stack trace."""
    app = create_app(SandboxConfig(**FAST))

    def boom():
        raise RuntimeError("internal detail")

    app.add_url_rule("/cgi-bin/boom", view_func=boom)
    with serve_in_thread(app) as url:
        response = requests.get(f"{url}/cgi-bin/boom", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["errcode"] == -1 and body["errmsg"].startswith("system error rid: ")
    assert "internal detail" not in response.text


def test_uploads_through_wechatpy(sandbox):
    """material.add returns a permanent media_id and URL; media.upload_image an mmbiz URL."""
    _, client = sandbox
    added = client.material.add("image", ("cover.png", io.BytesIO(PNG)))
    assert added["media_id"] and added["url"].startswith("http://mmbiz.qpic.cn/")
    assert client.media.upload_image(("inline.jpg", io.BytesIO(JPG))).startswith(
        "http://mmbiz.qpic.cn/mmbiz_jpeg/"
    )
    temporary = client.media.upload("image", ("photo.jpg", io.BytesIO(JPG)))
    assert temporary["type"] == "image" and temporary["created_at"]


@pytest.mark.parametrize(
    ("path", "params", "name", "data", "errcode"),
    [
        ("media/uploadimg", {}, "big.jpg", JPG + b"\0" * MB, 40009),
        ("media/uploadimg", {}, "anim.gif", b"GIF89a" + b"\0" * 64, 40005),
        ("media/uploadimg", {}, "media", JPG, 40005),
        ("media/uploadimg", {}, "fake.png", JPG, 40005),
        ("media/uploadimg", {}, "empty.png", b"", 41005),
        ("material/add_material", {"type": "thumb"}, "t.jpg", JPG + b"\0" * 64 * 1024, 40012),
        ("material/add_material", {"type": "voice"}, "v.mp3", b"ID3" + b"\0" * 2 * MB, 40010),
        ("material/add_material", {"type": "image"}, "i.png", PNG + b"\0" * 10 * MB, 40009),
        ("material/add_material", {"type": "sticker"}, "s.png", PNG, 40004),
        ("media/upload", {"type": "video"}, "clip.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 64, 0),
    ],
)
def test_upload_limits(sandbox, path, params, name, data, errcode):
    """Oversized, mistyped, nameless and empty uploads get WeChat's errcodes."""
    url, client = sandbox
    assert upload(url, client, path, name, data, **params).get("errcode", 0) == errcode


def test_request_above_the_body_limit_is_refused(sandbox):
    """A body larger than any WeChat upload is answered 45001, not a server error."""
    url, client = sandbox
    answer = upload(url, client, "media/uploadimg", "huge.png", PNG + b"\0" * 13 * MB)
    assert answer["errcode"] == 45001


def test_stalled_upload_does_not_hold_up_other_calls(sandbox):
    """While one client's upload body is still arriving, other API calls are answered."""
    url, client = sandbox
    control = SandboxControl(url)
    # A no-op rule on the upload: its "fired" count shows the request has reached the sandbox.
    control.add_fault(endpoint="media/uploadimg", action={"latency": 0})
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /cgi-bin/media/uploadimg?access_token={client.access_token} HTTP/1.1\r\n"
        "Host: sandbox\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 100000\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="media"; filename="a.png"\r\n\r\n'
    )
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(head.encode() + PNG)  # and nothing more: the body never completes
        control.wait_until(lambda: control.faults()["rules"][0]["fired"], what="upload started")
        assert client.get("draft/count") == {"total_count": 0}


def test_draft_round_trip_through_wechatpy(sandbox):
    """draft/add, get, update (index 0, articles an object), count (GET), batchget, delete."""
    _, client = sandbox
    thumb = cover(client)
    media_id = client.post("draft/add", data={"articles": [article(thumb)]})["media_id"]
    item = client.post("draft/get", data={"media_id": media_id})["news_item"][0]
    assert item["title"] == "招生简章" and item["thumb_media_id"] == thumb and item["url"]
    client.post(
        "draft/update",
        data={"media_id": media_id, "index": 0, "articles": article(thumb, title="新标题")},
    )
    assert client.get("draft/count") == {"total_count": 1}
    page = client.post("draft/batchget", data={"offset": 0, "count": 20, "no_content": 1})
    assert page["item_count"] == 1 and "content" not in page["item"][0]["content"]["news_item"][0]
    assert page["item"][0]["content"]["news_item"][0]["title"] == "新标题"
    client.post("draft/delete", data={"media_id": media_id})
    assert client.get("draft/count") == {"total_count": 0}


def test_draft_errors(sandbox):
    """Each bad draft (unknown id, bad cover, long fields, bad update) gets its own errcode."""
    _, client = sandbox
    thumb = cover(client)

    def add(*articles):
        return lambda: client.post("draft/add", data={"articles": list(articles)})

    assert errcode_of(lambda: client.post("draft/get", data={"media_id": "nope"})) == 40007
    assert errcode_of(add(article("not-a-material"))) == 40007
    assert errcode_of(add(article(thumb, title="标" * 33))) == 45003
    assert errcode_of(add(article(thumb, digest="摘" * 129))) == 45004
    assert errcode_of(add(article(thumb, author="作" * 17))) == 45110
    assert errcode_of(add()) == 44003
    assert errcode_of(add(*[article(thumb)] * 9)) == 45008
    media_id = client.post("draft/add", data={"articles": [article(thumb)]})["media_id"]

    def update(index, articles):
        data = {"media_id": media_id, "index": index, "articles": articles}
        return lambda: client.post("draft/update", data=data)

    assert errcode_of(update(0, [article(thumb)])) == 47001
    assert errcode_of(update(1, article(thumb))) == 47003


def test_escaped_chinese_is_refused_in_drafts(sandbox):
    """A title sent as \\uXXXX escapes (requests' json=) is 40033; raw UTF-8 is accepted."""
    url, client = sandbox
    thumb = cover(client)
    escaped = json.dumps({"articles": [article(thumb)]}).encode()
    assert raw_post(url, client, "draft/add", escaped)["errcode"] == 40033
    plain = json.dumps({"articles": [article(thumb)]}, ensure_ascii=False).encode("utf-8")
    assert "media_id" in raw_post(url, client, "draft/add", plain)
