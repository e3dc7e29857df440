"""The one exception tree of Qianfa.

    QianfaError                 base; carries a stable ``code`` and a Chinese ``message``
    ├── ConfigError             a setting is missing or malformed (stops the process)
    ├── InvalidInput    400     a field is empty, too long, malformed or unknown in kind
    ├── NotFound        404     no such unit, platform, person, draft or code
    ├── Forbidden       403     the actor's stored role does not allow the action
    ├── Conflict        409     the state forbids it: invalid transition, stale approval,
    │                           self-approval, a race lost too many times
    ├── Unavailable     503     Redis (or another backing service) cannot be reached
    └── CallbackRefused 4xx     a WeChat callback refused as a security event: forged,
                                stale, replayed, oversized, malformed, inactive platform

Domain code raises these; each edge renders them once: the JSON API as
``{"error": code, "message": ...}``, the CLI as one line, the chat as a polite reply.
"""


class QianfaError(Exception):
    """Base of every error that Qianfa shows to a user."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def to_dict(self) -> dict:
        return {"error": self.code, "message": self.message}


class ConfigError(QianfaError):
    """A setting is missing or malformed."""

    code = "config"


class InvalidInput(QianfaError):
    """The input is malformed, empty, too long or of an unknown kind."""

    status = 400
    code = "invalid_input"


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


class CallbackRefused(QianfaError):
    """A WeChat callback refused; ``code`` names the reason, ``status`` is a 4xx."""

    status = 400
    code = "refused"

    def __init__(self, message: str, *, code: str, status: int = 400, forged: bool = False):
        super().__init__(message, code=code)
        self.status = status
        self.forged = forged
