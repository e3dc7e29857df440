"""Sandbox WeChat: a local stand-in for WeChat's servers that speaks their wire protocol.

It is a separate Flask application that shares nothing with the rest of Qianfa but HTTP.
Qianfa reaches it by pointing its WeChat API base URL at it; the sandbox in turn POSTs
callbacks to each account's configured server URL. ``/cgi-bin/`` imitates WeChat's API,
``/sandbox/api/`` is the control API, and ``/`` is a page to watch what happens.
"""

from flask import Flask

from sandbox.config import SandboxConfig
from sandbox.state import World

MAX_REQUEST = 12 * 1024 * 1024  # above WeChat's 10 MB media limit; larger bodies get 45001


def create_app(config: SandboxConfig | None = None) -> Flask:
    """Build a sandbox with its own, empty world; ``app.extensions["sandbox"]`` holds it."""
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST
    app.extensions["sandbox"] = World(config or SandboxConfig())

    from sandbox import backoffice, control, pages, sites
    from sandbox.api import base, draft, freepublish, media, message, token

    base.init_app(app)
    for module in (token, message, media, draft, freepublish, control, pages, backoffice):
        app.register_blueprint(module.bp)
    sites.init_app(app)  # the stand-in website and Weibo (platforms without an API)
    from sandbox.api import user

    app.register_blueprint(user.bp)
    return app
