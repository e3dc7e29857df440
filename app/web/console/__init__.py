"""``/console``: the web console for the propaganda department and responsible persons.

Server-rendered pages over the domain modules. Every request is signed in (``auth``),
every form carries the session's CSRF token, and every platform a page names is checked
against the person's stored roles before anything is read or changed.
"""

from flask import Blueprint, Flask

from app.core import clock

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    static_folder="../static",
    static_url_path="/static",
)


def init_app(app: Flask) -> None:
    from app.web.console import (  # noqa: F401
        admin,
        alertdesk,
        auditlog,
        auth,
        dailyreport,
        inventory,
        lexicon,
        pages,
        reviews,
    )

    app.register_blueprint(bp)
    app.add_template_filter(clock.beijing, "beijing")
