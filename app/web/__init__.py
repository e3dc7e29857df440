"""Flask blueprints: parse the request, call one domain function, render the result."""

from flask import current_app

from app.redis import get_redis
from app.settings import Settings


def settings() -> Settings:
    return current_app.config["QIANFA_SETTINGS"]


def redis_client():
    return get_redis(settings())
