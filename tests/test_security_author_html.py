"""Issue #11, hole 1: an article's HTML must not take over the page a reviewer signs on.

Each test serves the app, opens the page in headless Chromium and does what a reviewer
does: the author's lure must not approve another draft, grant a role or move the page.
"""

import pytest

from app.core.masterkey import load_keyring
from app.drafts import lifecycle, preview, review
from app.registry import access
from app.web import authorhtml
from tests.console_helpers import shot, sign_in_browser, signed_in, with_password
from tests.factories import actor, submitted, world

# An unclosed form adopts every field after it, the page's CSRF token and approve button too.
FORM = '<form action="{target}" method="post">{fields}'
APPROVE_FIELDS = (
    '<input type="hidden" name="decision" value="approve">'
    '<input type="hidden" name="seen_hash" value="{other_hash}">'
)
LURES = {
    "unclosed_form_approves_another_draft": FORM.format(
        target="/console/drafts/{other}", fields=APPROVE_FIELDS
    ),
    "unclosed_form_grants_the_author_a_role": FORM.format(
        target="/console/people/{author}/grant",
        fields='<input type="hidden" name="role" value="propaganda">',
    ),
    "meta_refresh_and_base_leave_the_console": (
        '<base href="{site}/health/"><meta http-equiv="refresh" content="0;url={site}/health">'
    ),
    "svg_and_mathml_smuggle_a_form": (
        "<svg><foreignObject>"
        + FORM.format(target="/console/drafts/{other}", fields=APPROVE_FIELDS)
        + '</foreignObject></svg><math><mtext><input type="hidden" name="decision" '
        'value="approve"></mtext></math>'
    ),
    "css_overlay_covers_the_approve_button": FORM.format(
        target="/console/drafts/{other}", fields=APPROVE_FIELDS
    )
    + (
        '<button style="position:fixed;top:0;left:0;width:100vw;height:100vh;'
        'z-index:2147483647;opacity:0">继续</button>'
    ),
}


@pytest.fixture
def careful(page):
    """A page that gives up after 5 s, so a hijacked page fails fast instead of hanging."""
    page.set_default_timeout(5000)
    return page


def article(r, w, html: str) -> lifecycle.Draft:
    content = {
        "title": "迎新晚会通知",
        "content_html": f"<p>请审核本稿。</p>{html}",
        "cover_image": "https://mmbiz.qpic.cn/cover.jpg",
    }
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", content)
    return lifecycle.submit(r, actor(w.admin), draft.id)


def click_like_a_person(page, selector: str) -> None:
    """Click where the button shows on screen: whatever lies on top there gets the click."""
    button = page.locator(selector)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    with page.expect_navigation():
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.browser
@pytest.mark.parametrize("trick", sorted(LURES))
def test_author_html_cannot_hijack_the_approve_button(r, site, careful, trick):
    w = world(r, tier=1)  # the college's own platform: the propaganda department signs
    other = submitted(r, w, text="另一篇待审稿件")
    lure = article(
        r,
        w,
        LURES[trick].format(
            other=other.id, other_hash=other.content_hash, author=w.admin, site=site
        ),
    )
    with_password(r, w.propaganda)
    refused = []  # what the pages' own policy blocked: the console must need nothing it forbids
    careful.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    sign_in_browser(careful, site, w.propaganda)
    review_url = f"{site}/console/drafts/{lure.id}"
    careful.goto(review_url)
    careful.wait_for_load_state("networkidle")
    assert careful.url == review_url
    shot(careful, f"author-html-{trick}")
    click_like_a_person(careful, "#approve")
    careful.wait_for_load_state("networkidle")
    assert review.state(r, other.id).given == {}
    assert lifecycle.get(r, other.id).status == lifecycle.IN_REVIEW
    assert not access.has_role(r, w.admin, access.PROPAGANDA)
    assert set(review.state(r, lure.id).given) == {review.PROPAGANDA}
    assert careful.url.startswith(review_url + "?")
    careful.frame_locator("#body").get_by_text("请审核本稿。").wait_for()  # still shown, framed
    assert refused == []


@pytest.mark.browser
def test_preview_with_meta_refresh_stays_put_and_sends_its_headers(r, settings, site, careful):
    w = world(r)
    lure = article(r, w, LURES["meta_refresh_and_base_leave_the_console"].format(site=site))
    url = f"{site}/preview/{preview.token(load_keyring(settings), lure.id, 1, ttl=600)}"
    response = careful.goto(url)
    careful.wait_for_load_state("networkidle")
    assert careful.url == url
    policy = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ):
        assert directive in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    careful.frame_locator("#body").get_by_text("请审核本稿。").wait_for()
    shot(careful, "author-html-preview")


@pytest.mark.parametrize(
    ("html", "shown"),
    [
        ('<form action="/x"><input name="a"><button>去</button></form>', "去"),
        ('<meta http-equiv="refresh" content="0;url=/x"><base href="/x/">正文', "正文"),
        ("<svg><foreignObject><p>藏</p></foreignObject></svg><math><mi>x</mi></math>", ""),
        ("<style>button{display:none}</style><script>alert(1)</script>", ""),
        ('<p style="position:fixed;z-index:9;color:red">字</p>', '<p style="color:red">字</p>'),
        ('<a href="javascript:alert(1)">链</a>', '<a rel="noopener noreferrer">链</a>'),
        (
            '<img src="https://mmbiz.qpic.cn/a.jpg" onerror="x()">',
            '<img src="https://mmbiz.qpic.cn/a.jpg">',
        ),
        ("<section><span>段</span></section>", "<section><span>段</span></section>"),
    ],
)
def test_the_sanitiser_keeps_what_wechat_makes_and_drops_the_rest(html, shown):
    assert authorhtml.clean(html) == shown


def test_the_body_frame_is_sandboxed_and_only_for_reviewers_of_its_platform(r, settings):
    w = world(r)
    lure = article(r, w, LURES["meta_refresh_and_base_leave_the_console"].format(site=""))
    stranger = world(r, platform_id="wy-wx").admin
    client, _ = signed_in(settings, r, stranger)
    refused = client.get(f"/console/drafts/{lure.id}/versions/1/body")
    assert refused.status_code in (403, 404) and "请审核本稿" not in refused.get_data(as_text=True)
    client, _ = signed_in(settings, r, w.responsible)
    body = client.get(f"/console/drafts/{lure.id}/versions/1/body")
    assert body.status_code == 200 and "请审核本稿" in body.get_data(as_text=True)
    assert "refresh" not in body.get_data(as_text=True) and "base" not in body.get_data(
        as_text=True
    )
    assert body.headers["Content-Security-Policy"].startswith("sandbox;")
    assert body.headers["X-Frame-Options"] == "SAMEORIGIN" and "Set-Cookie" not in body.headers
    assert (
        lifecycle.version(r, lure.id, 1).content["content_html"].count("<meta") == 1
    )  # as submitted
