"""Render every error of the web side once, as ``{"error": code, "message": ...}``."""

import logging

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.errors import QianfaError, Unavailable

log = logging.getLogger(__name__)


def render(error: QianfaError):
    return jsonify(error.to_dict()), error.status


def init_app(app: Flask) -> None:
    app.register_error_handler(QianfaError, render)

    @app.errorhandler(redis.RedisError)
    def redis_down(exc):
        log.error("redis unavailable: %s", exc)
        return render(Unavailable("数据存储暂时不可用,请稍后再试"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify({"error": exc.name.lower().replace(" ", "_"), "message": exc.description}), (
            exc.code
        )

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error")
        return jsonify({"error": "internal", "message": "服务器内部错误,已记录"}), 500
