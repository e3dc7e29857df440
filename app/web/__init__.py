"""The web application: blueprints that parse the request, call one domain function and
render the result. ``create_app`` is the only place that builds it."""

import logging

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core.redis import get_redis
from app.core.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web application: webhook, API and health, all thin views over the domain."""
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config["QIANFA_SETTINGS"] = settings
    app.json.ensure_ascii = False
    logging.basicConfig(level=settings.log_level)
    from app.web import api, console, errors, headers, health, metrics, preview, wechat

    app.wsgi_app = wechat.Direct(app)  # before ProxyFix, which must see the request first
    if settings.trusted_proxies:  # only then is X-Forwarded-For the client's address
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    errors.init_app(app)
    headers.init_app(app)
    console.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(preview.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(wechat.bp)
    app.register_blueprint(metrics.bp)
    return app


def settings() -> Settings:
    return current_app.config["QIANFA_SETTINGS"]


def redis_client():
    return get_redis(settings())
