"""Security headers of every response, set in one place after the views ran.

Console and preview pages run no script, post forms only to Qianfa, are never framed and
send no Referer (a preview link's token must not reach an image host). The author's HTML
is shown only in a frame of its own (``FRAMES``): sandboxed by its own policy, so it has
no origin, no scripts, no forms and no way to move the page around it, even opened alone.
"""

from flask import Flask, Response, request

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; "
    "script-src 'none'; object-src 'none'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
FRAME_POLICY = (
    "sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)
EVERYWHERE = {"X-Content-Type-Options": "nosniff"}
PAGE = {
    **EVERYWHERE,
    "Content-Security-Policy": PAGE_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "private, no-store",
}
FRAME = {**PAGE, "Content-Security-Policy": FRAME_POLICY, "X-Frame-Options": "SAMEORIGIN"}
PAGE_BLUEPRINTS = {"console", "preview"}
FRAMES = {"console.draft_body", "preview.body"}


def headers_for(endpoint: str | None, blueprint: str | None) -> dict[str, str]:
    if endpoint in FRAMES:
        return FRAME
    if blueprint in PAGE_BLUEPRINTS:
        return PAGE
    return EVERYWHERE


def secure(response: Response) -> Response:
    """Runs after the blueprints' own hooks, so these values are the ones sent."""
    wanted = headers_for(request.endpoint, request.blueprint)
    response.headers.update(wanted)
    if wanted is FRAME:
        response.headers.remove("Set-Cookie")
    return response


def init_app(app: Flask) -> None:
    app.after_request(secure)
