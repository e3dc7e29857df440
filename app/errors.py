"""The one exception tree of Qianfa.

    QianfaError                 base; carries a stable ``code`` and a Chinese ``message``
    ├── ConfigError             a setting is missing or malformed (stops the process)
    ├── InvalidInput    400     a field is empty, too long, malformed or unknown in kind
    ├── NotFound        404     no such unit, platform, person, draft or code
    ├── Forbidden       403     the actor's stored role does not allow the action
    ├── Conflict        409     the state forbids it: invalid transition, stale approval,
    │                           self-approval, a race lost too many times
    ├── ContentBlocked  422     screening found prohibited content: the draft was moved to
    │                           ``blocked`` and the propaganda department alerted; carries
    │                           the draft and the screening result (the one error that
    │                           reports a change that did happen)
    └── Unavailable     503     Redis (or another backing service) cannot be reached

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
