"""Render every error of the web side once, as ``{"error": code, "message": ...}``.

A ``"field"`` is added when one input field is at fault. Werkzeug's own HTTP errors
(unknown route, wrong method, body over the limit) get the same shape, in Chinese.
"""

import logging

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from app.core.errors import QianfaError, Unauthorized, Unavailable

log = logging.getLogger(__name__)

HTTP_MESSAGES = {
    400: "请求格式不对",
    401: "需要有效的 API 令牌",
    403: "无权访问",
    404: "没有这个地址",
    405: "此地址不支持该请求方法",
    413: "请求体过大",
    415: "不支持的请求类型",
}


def render(error: QianfaError):
    response = jsonify(error.to_dict())
    response.status_code = error.status
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="qianfa"'
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(QianfaError, render)

    @app.errorhandler(redis.RedisError)
    def redis_down(exc):
        log.error("redis unavailable: %s", exc)
        return render(Unavailable("数据存储暂时不可用,请稍后再试"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.name.lower().replace(" ", "_")
        response = jsonify({"error": code, "message": HTTP_MESSAGES.get(exc.code, exc.name)})
        response.status_code = exc.code
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error")
        return jsonify({"error": "internal", "message": "服务器内部错误,已记录"}), 500
