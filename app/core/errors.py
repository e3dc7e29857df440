"""The one exception tree of Qianfa.

    QianfaError                 base; carries a stable ``code`` and a Chinese ``message``
    ├── ConfigError             a setting is missing or malformed (stops the process)
    ├── InvalidInput    400     a field is empty, too long, malformed or unknown in kind
    │   ├── TooLarge        413     a body or an upload over its size limit
    │   ├── UnsupportedType 415     a body or an upload of a type not accepted
    │   └── Unprocessable   422     contradicts an earlier request (an Idempotency-Key reused
    │                               with another body)
    ├── Unauthorized    401     no credential, or one that is unknown, malformed or revoked
    ├── NotFound        404     no such unit, platform, person, draft or code
    ├── Forbidden       403     the actor's stored role does not allow the action
    ├── Conflict        409     the state forbids it: invalid transition, stale approval,
    │                           self-approval, a race lost too many times
    ├── ContentBlocked  422     screening found prohibited content: the draft was moved to
    │                           ``blocked`` and the propaganda department alerted; carries
    │                           the draft and the screening result (the one error that
    │                           reports a change that did happen)
    ├── Unavailable     503     Redis (or another backing service) cannot be reached
    │   └── Unconfirmed 503     written, but no replica confirmed it in time: a failover
    │                           may lose it, so it does not count as done
    ├── CallbackRefused 4xx     a WeChat callback refused as a security event: forged,
    │                           stale, replayed, oversized, malformed, inactive platform
    └── WeChatError     502     WeChat refused a call or could not be reached; carries
        │                       ``errcode`` (None without one), ``errmsg`` (no rid), ``endpoint``
        ├── WeChatRetryable       -1, 45011, 45066, HTTP 5xx, timeouts, connection errors:
        │                         the same call may succeed later (``retry_after`` if known)
        ├── WeChatQuotaExhausted  45009: today's quota is spent; the platform's publishing is
        │                         paused until the quota resets (``retry_after``)
        ├── WeChatTokenInvalid    40001/40014/42001 again after one token refresh and retry
        └── WeChatPermanent       anything else: the request itself is refused; the message
                                  says why, in Chinese, for the author

Domain code raises these; each edge renders them once: the JSON API as
``{"error": code, "message": ...}`` (plus ``"field"`` when one input field is at fault),
the CLI as one line, the chat as a polite reply.
"""


class QianfaError(Exception):
    """Base of every error that Qianfa shows to a user."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        shown = {"error": self.code, "message": self.message}
        if self.field:
            shown["field"] = self.field
        return shown


class ConfigError(QianfaError):
    """A setting is missing or malformed."""

    code = "config"


class InvalidInput(QianfaError):
    """The input is malformed, empty, too long or of an unknown kind."""

    status = 400
    code = "invalid_input"


class TooLarge(InvalidInput):
    """A request body or an uploaded file is over its size limit."""

    status = 413
    code = "too_large"


class UnsupportedType(InvalidInput):
    """A request body or an uploaded file is of a type that is not accepted."""

    status = 415
    code = "unsupported_type"


class Unprocessable(InvalidInput):
    """The request contradicts an earlier one: an Idempotency-Key reused with another body."""

    status = 422
    code = "unprocessable"


class Unauthorized(QianfaError):
    """No credential was given, or it is unknown, malformed or revoked."""

    status = 401
    code = "unauthorized"


class NotFound(QianfaError):
    """The thing named does not exist."""

    status = 404
    code = "not_found"


class Forbidden(QianfaError):
    """The actor's stored role does not allow this."""

    status = 403
    code = "forbidden"


class Conflict(QianfaError):
    """The current state does not allow this."""

    status = 409
    code = "conflict"


class Unavailable(QianfaError):
    """A backing service cannot be reached."""

    status = 503
    code = "unavailable"


class Unconfirmed(Unavailable):
    """A change written to the master that too few replicas confirmed (``replicas``)."""

    code = "unconfirmed"


class WeChatError(QianfaError):
    """WeChat refused a call or could not be reached; the message is for the author."""

    status = 502
    code = "wechat"

    def __init__(
        self,
        message: str,
        *,
        errcode: int | None = None,
        errmsg: str = "",
        endpoint: str = "",
        retry_after: float | None = None,
        code: str | None = None,
    ):
        super().__init__(message, code=code)
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        return {**super().to_dict(), "errcode": self.errcode}


class WeChatRetryable(WeChatError):
    """A passing failure (system busy, rate limit, 5xx, timeout): try again later."""

    status = 503
    code = "wechat_retryable"


class WeChatQuotaExhausted(WeChatError):
    """45009: the daily quota is spent; publishing on the platform waits for the reset."""

    status = 503
    code = "wechat_quota"


class WeChatTokenInvalid(WeChatError):
    """The access token was refused again right after a refresh."""

    code = "wechat_token"


class WeChatPermanent(WeChatError):
    """WeChat refused the request itself; repeating it will not help."""

    code = "wechat_refused"


class ContentBlocked(QianfaError):
    """Screening blocked the version (art. 10, 16); the draft is now ``blocked``.

    Raised after the change committed, so every channel tells the author through the path
    it already has for errors; ``screening`` holds the hits (category, words, where).
    """

    status = 422
    code = "content_blocked"

    def __init__(self, message: str, *, draft, screening):
        super().__init__(message)
        self.draft = draft
        self.screening = screening

    def to_dict(self) -> dict:
        return {**super().to_dict(), "draft": self.draft.id, "screening": self.screening.to_dict()}


class CallbackRefused(QianfaError):
    """A WeChat callback refused; ``code`` names the reason, ``status`` is a 4xx."""

    status = 400
    code = "refused"

    def __init__(self, message: str, *, code: str, status: int = 400, forged: bool = False):
        super().__init__(message, code=code)
        self.status = status
        self.forged = forged
