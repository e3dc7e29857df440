"""The signed article preview page that ``查看`` links to."""

import pytest

from app.core import audit
from app.core.masterkey import load_keyring
from app.drafts import lifecycle, preview
from app.web import create_app
from tests.factories import actor, world

ARTICLE = {
    "title": "校运动会开幕",
    "author": "校团委",
    "digest": "",
    "content_html": '<p>运动会开幕。</p><script>alert(1)</script><img src="https://e.cn/a.jpg">',
    "cover_image": "",
    "source_url": "",
}


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


@pytest.fixture
def article(r):
    w = world(r)
    return lifecycle.create(r, actor(w.admin), w.platform, "article", ARTICLE)


def test_preview_renders_the_article_without_running_its_scripts(client, settings, article):
    token = preview.token(load_keyring(settings), article.id, 1, ttl=600)
    response = client.get(f"/preview/{token}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "校运动会开幕" in page and "计算机学院微信公众号" in page
    assert "运动会开幕。" not in page and f'src="/preview/{token}/body"' in page
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    body = client.get(f"/preview/{token}/body")
    assert "<p>运动会开幕。</p>" in body.get_data(as_text=True)
    assert "script" not in body.get_data(as_text=True)
    assert body.headers["Content-Security-Policy"].startswith("sandbox;")
    assert "script-src" not in body.headers["Content-Security-Policy"]


def test_preview_shows_the_version_it_was_made_for(r, client, settings, article):
    token = preview.token(load_keyring(settings), article.id, 1, ttl=600)
    lifecycle.edit(
        r,
        audit.Actor(via="chat", person=article.author),
        article.id,
        {**ARTICLE, "title": "新标题"},
    )
    page = client.get(f"/preview/{token}").get_data(as_text=True)
    assert "校运动会开幕" in page and "新标题" not in page and "已有更新的第 2 版" in page


def test_forged_and_expired_links_are_refused(client, settings, article):
    keyring = load_keyring(settings)
    token = preview.token(keyring, article.id, 1, ttl=600)
    body, signature = token.split(".")
    other = preview.token(keyring, "D2", 1, ttl=600).split(".")[0]
    assert client.get(f"/preview/{other}.{signature}").status_code == 403
    expired = preview.token(keyring, article.id, 1, ttl=600, now=1_000_000_000)
    response = client.get(f"/preview/{expired}")
    assert response.status_code == 403 and "已过期" in response.get_data(as_text=True)
    assert client.get("/preview/garbage").status_code == 400


def test_preview_highlights_what_screening_found(r, client, settings):
    w = world(r, platform_id="ad-wx")
    draft = lifecycle.create(r, actor(w.admin), w.platform, "text", {"text": "报名请加微信 abc123"})
    lifecycle.submit(r, actor(w.admin), draft.id)
    token = preview.token(load_keyring(settings), draft.id, 1, ttl=600)
    page = client.get(f"/preview/{token}").get_data(as_text=True)
    assert "报名请<mark>加微信 abc123</mark>" in page
    assert "广告迹象" in page
