"""Qianfa's own WeChat API client: one ``WeChatAPI`` per platform, over ``requests``.

Every call goes through ``WeChatAPI._call``: a token from the shared ``TokenStore``, one
HTTP exchange with explicit timeouts, and WeChat's answer turned into plain data or into
one of the ``WeChatError`` classes of ``app.core.errors`` (``app.wechat.errcodes.ERRCODES``). The
only retry made here is the token one: 40001/40014/42001 refresh the token and repeat the
call once. Everything else that may pass (-1, 45011, 5xx, timeouts) is ``WeChatRetryable``
and left to the RQ jobs, which space their attempts with ``wechat_errors.backoff``. 45009
pauses the platform's publishing until the quota resets and raises one alert
(``app.wechat.quota``); while the pause lasts, the publishing steps here (uploads, draft/add,
freepublish/submit, mass send) are refused without calling WeChat.

JSON goes out as raw UTF-8 (``ensure_ascii=False``): WeChat refuses ``\\uXXXX`` escapes,
which ``requests``' ``json=`` would send. wechatpy's client is not used: its token URL is
hard-coded, its 40001 retry has no bound and it re-sends consumed upload files.
"""

import io
import json
import logging
import os
import re
import threading
from datetime import datetime
from typing import BinaryIO

import redis
import requests
from requests.adapters import HTTPAdapter

from app.core import audit, metrics
from app.core.errors import (
    InvalidInput,
    WeChatError,
    WeChatPermanent,
    WeChatQuotaExhausted,
    WeChatRetryable,
)
from app.core.masterkey import Keyring, load_keyring
from app.core.settings import Settings, get_settings
from app.core.store import now
from app.core.validate import CHINA_TIME
from app.registry import credentials, platforms
from app.wechat.errcodes import QUOTA_EXHAUSTED, TOKEN_INVALID, classify, clean_errmsg
from app.wechat.quota import next_reset, pause, paused_until
from app.wechat.tokens import Issued, TokenStore

log = logging.getLogger(__name__)

ACTOR = audit.Actor.system("wechat")
CONNECT_TIMEOUT = 5.0
POOL_SIZE = 32
MASS_DUPLICATE = 45065
INVALID_MEDIA = 40007
ARTICLE_GONE = 53600  # freepublish: the article_id names nothing online
MAX_CLIENTMSGID = 64  # bytes
PUBLISH_STATUS = {
    0: "发布成功",
    1: "发布中",
    2: "原创校验未通过",
    3: "常规失败",
    4: "平台审核不通过",
    5: "发布后用户已删除全部文章",
    6: "发布后文章已被系统封禁",
}
SECRET_IN_URL = re.compile(r"((?:secret|access_token)=)[^&\s\"']+")


# --- HTTP -----------------------------------------------------------------------------


class _RedactQuery(logging.Filter):
    """urllib3 logs request lines at DEBUG; the token endpoint's carries the AppSecret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_IN_URL.sub(r"\1<sealed>", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = SECRET_IN_URL.sub(r"\1<sealed>", record.msg)
        return True


_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


def session() -> requests.Session:
    """This process's shared Session; a forked worker gets its own, not its parent's sockets."""
    pid = os.getpid()
    with _sessions_lock:
        if pid not in _sessions:
            urllib3_log = logging.getLogger("urllib3.connectionpool")
            if not any(isinstance(f, _RedactQuery) for f in urllib3_log.filters):
                urllib3_log.addFilter(_RedactQuery())
            http = requests.Session()
            # One connection per worker thread, instead of urllib3's default of 10.
            adapter = HTTPAdapter(pool_maxsize=POOL_SIZE)
            http.mount("https://", adapter)
            http.mount("http://", adapter)
            _sessions[pid] = http
        return _sessions[pid]


def _json(body: dict | None) -> dict:
    """A JSON body as WeChat wants it: raw UTF-8, never ``\\uXXXX`` escapes (40033)."""
    if body is None:
        return {}
    return {
        "data": json.dumps(body, ensure_ascii=False).encode("utf-8"),
        "headers": {"Content-Type": "application/json; charset=utf-8"},
    }


def _rewind(upload: tuple[str, BinaryIO, int] | None) -> dict | None:
    """The multipart ``media`` part, read from the start again on every attempt."""
    if upload is None:
        return None
    filename, stream, start = upload
    stream.seek(start)
    return {"media": (filename, stream)}


# --- the client -----------------------------------------------------------------------


class WeChatAPI:
    """The WeChat API of one platform; thread-safe, cheap to build, one per job is fine."""

    def __init__(
        self,
        r: redis.Redis,
        keyring: Keyring,
        platform_id: str,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        platform = platforms.get(r, platform_id)
        if platform.kind != "wechat" or not platform.appid:
            raise InvalidInput(f"平台 {platform.id} 不是登记了 AppID 的微信公众号")
        self.r = r
        self.keyring = keyring
        self.platform_id = platform.id
        self.appid = platform.appid
        self.base = f"{self.settings.wechat_api_base}/cgi-bin/"
        self.timeout = (min(CONNECT_TIMEOUT, self.settings.wechat_timeout),)
        self.timeout += (self.settings.wechat_timeout,)
        self.stable = self.settings.uses_stable_token(platform.id)
        # A stable fetch may take two requests (normal, then forced).
        lock_ttl = 2 * sum(self.timeout) + 5
        self.tokens = TokenStore(
            r,
            self.appid,
            self._fetch_token,
            margin=self.settings.wechat_token_margin,
            lock_ttl=lock_ttl,
        )

    @classmethod
    def for_platform(cls, r: redis.Redis, platform_id: str, settings: Settings | None = None):
        """The client for ``platform_id`` with this process's settings and master key."""
        settings = settings or get_settings()
        return cls(r, load_keyring(settings), platform_id, settings)

    def __repr__(self) -> str:
        return f"WeChatAPI(platform={self.platform_id!r}, appid={self.appid!r})"

    # --- one exchange ---

    def _send(self, method: str, path: str, action: str, **request) -> dict:
        """One HTTP exchange: WeChat's JSON answer, or ``WeChatRetryable``/``WeChatPermanent``.

        Errors are raised outside the ``except`` so that no traceback carries the
        ``requests`` exception, whose text includes the URL (the token or the AppSecret).
        """
        failure = None
        try:
            response = session().request(method, self.base + path, timeout=self.timeout, **request)
        except requests.Timeout:
            failure = "微信接口响应超时"
        except requests.RequestException as exc:
            failure = f"无法连接微信接口({type(exc).__name__})"
        if failure:
            raise WeChatRetryable(f"{action}失败:{failure}", endpoint=path)
        status = response.status_code
        if status >= 500 or status == 429:
            raise WeChatRetryable(f"{action}失败:微信接口暂时不可用(HTTP {status})", endpoint=path)
        if status != 200:
            raise WeChatPermanent(f"{action}失败:微信接口拒绝请求(HTTP {status})", endpoint=path)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise WeChatRetryable(f"{action}失败:微信接口返回了无法识别的内容", endpoint=path)
        return answer

    def _fail(self, answer: dict, path: str, action: str, **kwargs) -> WeChatError:
        """The error for a WeChat error answer; 45009 also pauses the platform's publishing."""
        errcode = answer.get("errcode")
        errcode = errcode if isinstance(errcode, int) else -1
        errmsg = answer.get("errmsg", "")
        metrics.count("qianfa_wechat_errors_total", api=path, errcode=str(errcode))
        log.warning(
            "wechat %s refused for platform %s: %s %s",
            path,
            self.platform_id,
            errcode,
            clean_errmsg(errmsg),
        )
        if errcode == QUOTA_EXHAUSTED:
            until = next_reset(now(), self.settings.wechat_quota_reset)
            pause(self.r, self.platform_id, endpoint=path, until=until)
            kwargs["note"] = f",发布暂停至 {until:%m-%d %H:%M}"
            kwargs["retry_after"] = (until - now()).total_seconds()
        return classify(errcode, errmsg, path, action, **kwargs)

    def _check_not_paused(self, action: str) -> None:
        """Refuse a publishing step while the platform waits for its quota, without a call."""
        until = paused_until(self.r, self.platform_id)
        if until is not None:
            shown = datetime.fromisoformat(until).astimezone(CHINA_TIME)
            raise WeChatQuotaExhausted(
                f"{action}暂缓:今日微信接口额度已用完,发布暂停至 {shown:%m-%d %H:%M}",
                errcode=QUOTA_EXHAUSTED,
                retry_after=max(0.0, (shown - now()).total_seconds()),
            )

    def _call(self, method, path, action, *, body=None, upload=None, query=None, accept=()):
        """An API call with the shared token; a refused token is refreshed and retried once."""

        def attempt(token: str) -> dict:
            params = {**(query or {}), "access_token": token}
            request = {"params": params, "files": _rewind(upload), **_json(body)}
            return self._send(method, path, action, **request)

        token = self.tokens.current()
        answer = attempt(token)
        if answer.get("errcode") in TOKEN_INVALID:
            log.info("wechat refused the token for platform %s; refreshing", self.platform_id)
            answer = attempt(self.tokens.replace(token))
        if not answer.get("errcode") or answer["errcode"] in accept:
            return answer
        raise self._fail(answer, path, action)

    # --- tokens ---

    def _fetch_token(self, stale: str | None) -> Issued:
        """Fetch a new token from WeChat: the AppSecret is revealed (and audited) here only."""
        secret = credentials.reveal(
            self.r,
            self.keyring,
            ACTOR,
            self.platform_id,
            "app_secret",
            purpose="获取微信 access_token",
        )
        if self.stable:
            body = {
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": secret.reveal(),
                "force_refresh": False,
            }
            issued = self._token_request("POST", "stable_token", json_body=body)
            if stale is not None and issued.value == stale:
                # WeChat still hands out the token it refused: rotate it.
                body["force_refresh"] = True
                issued = self._token_request("POST", "stable_token", json_body=body)
        else:
            params = {
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": secret.reveal(),
            }
            issued = self._token_request("GET", "token", params=params)
        log.info(
            "wechat %s refreshed for platform %s, expires in %ss",
            issued.kind,
            self.platform_id,
            issued.expires_in,
        )
        return issued

    def _token_request(self, method: str, path: str, *, params=None, json_body=None) -> Issued:
        action = "获取 access_token"
        answer = self._send(method, path, action, params=params, **_json(json_body))
        if answer.get("errcode"):
            raise self._fail(answer, path, action, token_endpoint=True)
        value, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int):
            raise WeChatRetryable(f"{action}失败:微信返回的 access_token 不完整", endpoint=path)
        return Issued(value, expires_in, "stable" if path == "stable_token" else "token")

    def draft_count(self) -> int:
        """How many drafts the draft box holds: the cheapest call that proves access works."""
        return int(self._call("GET", "draft/count", "查询草稿数量")["total_count"])

    # --- messages ---

    def send_text(self, openid: str, text: str) -> None:
        """Customer-service text message (客服消息), inside the user's reply window."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        self._call("POST", "message/custom/send", "发送客服消息", body=body)

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        url: str = "",
        client_msg_id: str = "",
    ) -> int:
        """Template message (模板消息); returns WeChat's msgid. A repeated client_msg_id
        within 10 minutes is dropped by WeChat, which answers with the first msgid."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        answer = self._call("POST", "message/template/send", "发送模板消息", body=body)
        return int(answer["msgid"])

    def mass_send_text(self, text: str, clientmsgid: str) -> dict:
        """Mass-send text to every follower: ``{"msg_id": int | None, "duplicate": bool}``.

        WeChat drops a send whose ``clientmsgid`` it saw in the last 24 hours (45065) and
        names the first send's msg_id: that is the send we wanted, so it counts as success
        (msg_id is None only if WeChat left it out of that answer).
        """
        if not clientmsgid or len(clientmsgid.encode("utf-8")) > MAX_CLIENTMSGID:
            raise InvalidInput(f"clientmsgid 应为 1–{MAX_CLIENTMSGID} 字节")
        self._check_not_paused("群发消息")
        body = {
            "filter": {"is_to_all": True},
            "text": {"content": text},
            "msgtype": "text",
            "clientmsgid": clientmsgid,
        }
        answer = self._call(
            "POST", "message/mass/sendall", "群发消息", body=body, accept=(MASS_DUPLICATE,)
        )
        duplicate = answer.get("errcode") == MASS_DUPLICATE
        if duplicate:
            log.info("mass send %s for platform %s was already sent", clientmsgid, self.platform_id)
        msg_id = answer.get("msg_id")
        return {"msg_id": None if msg_id is None else int(msg_id), "duplicate": duplicate}

    def mass_preview(self, openid: str, media_id: str) -> int | None:
        """Send a draft article to one user to look at (群发预览); WeChat's msg_id if given."""
        return self._preview(openid, "mpnews", {"media_id": media_id})

    def mass_preview_text(self, openid: str, text: str) -> int | None:
        """Send a text post to one user to look at before it is approved (群发预览)."""
        return self._preview(openid, "text", {"content": text})

    def _preview(self, openid: str, msgtype: str, message: dict) -> int | None:
        body = {"touser": openid, msgtype: message, "msgtype": msgtype}
        answer = self._call("POST", "message/mass/preview", "发送预览", body=body)
        return int(answer["msg_id"]) if answer.get("msg_id") is not None else None

    # --- media ---

    def add_image_material(self, image: BinaryIO | bytes, filename: str) -> dict:
        """Upload a permanent image (a cover): ``{"media_id": str, "url": str}``."""
        self._check_not_paused("上传封面图片")
        answer = self._call(
            "POST",
            "material/add_material",
            "上传封面图片",
            upload=_upload(image, filename),
            query={"type": "image"},
        )
        return {"media_id": answer["media_id"], "url": answer.get("url", "")}

    def upload_content_image(self, image: BinaryIO | bytes, filename: str) -> str:
        """Upload an image used inside an article's body; returns the URL to put there."""
        self._check_not_paused("上传正文图片")
        answer = self._call(
            "POST", "media/uploadimg", "上传正文图片", upload=_upload(image, filename)
        )
        return answer["url"]

    # --- drafts and publishing ---

    def draft_add(self, articles: list[dict]) -> str:
        """Put articles in the draft box (草稿箱); returns the draft's media_id."""
        if not articles:
            raise InvalidInput("草稿至少要有一篇文章")
        self._check_not_paused("新建草稿")
        answer = self._call("POST", "draft/add", "新建草稿", body={"articles": articles})
        return answer["media_id"]

    def freepublish_submit(self, media_id: str) -> dict:
        """Submit a draft for publishing: ``{"publish_id": str, "msg_data_id": str | None}``.

        Success here only means "accepted"; the outcome comes from PUBLISHJOBFINISH or
        ``freepublish_get``. Ids are strings: WeChat sends them as numbers or strings.
        """
        self._check_not_paused("提交发布")
        answer = self._call("POST", "freepublish/submit", "提交发布", body={"media_id": media_id})
        msg_data_id = answer.get("msg_data_id")
        return {
            "publish_id": str(answer["publish_id"]),
            "msg_data_id": None if msg_data_id is None else str(msg_data_id),
        }

    def draft_exists(self, media_id: str) -> bool:
        """Whether the draft box still holds this draft; it leaves once published."""
        answer = self._call(
            "POST", "draft/get", "查询草稿", body={"media_id": media_id}, accept=(INVALID_MEDIA,)
        )
        return answer.get("errcode") != INVALID_MEDIA

    def draft_batchget(self, offset: int = 0, count: int = 20) -> dict:
        """One page of the draft box, newest first, without content:
        ``{"total_count": int, "items": [{"media_id", "news_item": [...]}]}``."""
        return self._batchget("draft/batchget", "查询草稿列表", "media_id", offset, count)

    def freepublish_batchget(self, offset: int = 0, count: int = 20) -> dict:
        """One page of the published articles, newest first, without content:
        ``{"total_count": int, "items": [{"article_id", "news_item": [...]}]}``."""
        return self._batchget("freepublish/batchget", "查询已发布文章", "article_id", offset, count)

    def _batchget(self, path: str, action: str, id_field: str, offset: int, count: int) -> dict:
        body = {"offset": offset, "count": count, "no_content": 1}
        answer = self._call("POST", path, action, body=body)
        items = [
            {id_field: item.get(id_field, ""), "news_item": _news(item)}
            for item in answer.get("item") or []
        ]
        return {"total_count": int(answer.get("total_count", 0)), "items": items}

    def freepublish_get(self, publish_id: str) -> dict:
        """The state of a publish job.

        ``{"publish_id", "publish_status" (see PUBLISH_STATUS), "article_id",
        "article_urls" (in article order), "fail_idx" (1-based)}``.
        """
        answer = self._call(
            "POST", "freepublish/get", "查询发布状态", body={"publish_id": str(publish_id)}
        )
        items = (answer.get("article_detail") or {}).get("item") or []
        if isinstance(items, dict):
            items = [items]
        items = sorted(items, key=lambda item: int(item.get("idx", 0)))
        return {
            "publish_id": str(answer.get("publish_id", publish_id)),
            "publish_status": int(answer["publish_status"]),
            "article_id": answer.get("article_id") or "",
            "article_urls": [item.get("article_url", "") for item in items],
            "fail_idx": [int(index) for index in answer.get("fail_idx") or []],
        }

    # --- what is online (app.monitoring) ---

    def freepublish_page(self, offset: int = 0, count: int = 20, content: bool = False) -> dict:
        """One page of the published articles, newest ``update_time`` first:
        ``{"total_count": int, "items": [{"article_id", "update_time", "news_item"}]}``."""
        body = {"offset": offset, "count": count, "no_content": 0 if content else 1}
        answer = self._call("POST", "freepublish/batchget", "查询已发布文章", body=body)
        items = [
            {
                "article_id": str(item.get("article_id", "")),
                "update_time": int(item.get("update_time") or 0),
                "news_item": _news(item),
            }
            for item in answer.get("item") or []
        ]
        return {"total_count": int(answer.get("total_count", 0)), "items": items}

    def freepublish_getarticle(self, article_id: str) -> list[dict] | None:
        """The articles of one publication with their content; None once it is gone."""
        answer = self._call(
            "POST",
            "freepublish/getarticle",
            "获取已发布文章",
            body={"article_id": article_id},
            accept=(ARTICLE_GONE,),
        )
        if answer.get("errcode") == ARTICLE_GONE:
            return None
        return [item for item in answer.get("news_item") or [] if isinstance(item, dict)]

    def freepublish_delete(self, article_id: str) -> bool:
        """Take a publication down (every article of it); False when it was already gone."""
        body = {"article_id": article_id, "index": 0}
        answer = self._call(
            "POST", "freepublish/delete", "删除已发布文章", body=body, accept=(ARTICLE_GONE,)
        )
        return answer.get("errcode") != ARTICLE_GONE


def _news(item: dict) -> list[dict]:
    """The ``news_item`` list of a ``batchget`` entry, whichever way WeChat nests it."""
    content = item.get("content") or {}
    news = content.get("news_item") if isinstance(content, dict) else None
    return [entry for entry in news or [] if isinstance(entry, dict)]


def _upload(image: BinaryIO | bytes, filename: str) -> tuple[str, BinaryIO, int]:
    stream = io.BytesIO(image) if isinstance(image, bytes | bytearray) else image
    return filename, stream, stream.tell()
