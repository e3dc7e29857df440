"""The lexicons (词库): one page per list, to search, add, remove, import and export.

Only the propaganda department uses these pages; ``lexicon_store`` checks that again and
writes, audits and versions every change. An answer to a change is the page itself, so
an import can list the lines it skipped.
"""

from flask import Response, render_template, request

from app.core.errors import InvalidInput, QianfaError
from app.registry import access, people
from app.screening import VERDICTS
from app.screening import lexicon_store as store
from app.screening import rules as current_rules
from app.screening.textfiles import MAX_IMPORT_BYTES
from app.web import redis_client
from app.web.console import bp
from app.web.console.auth import actor

SHOWN = 500
LISTS = {"main": False, "allow": True}


def _propaganda_only(r) -> None:
    access.authorize(r, actor(), (access.PROPAGANDA,), "维护词库")


def _target(name: str, which: str) -> store.Target:
    if which not in LISTS:
        raise InvalidInput("没有这个列表")
    return store.target(name, allow=LISTS[which])


@bp.get("/lexicons")
def lexicon_index():
    r = redis_client()
    _propaganda_only(r)
    rules = current_rules()
    counts = {(t.name, t.allow): len(store.entries(t)) for t in store.all_targets()}
    versions = store.history(r)
    return render_template(
        "console/lexicons.html",
        rules=rules,
        counts=counts,
        targets=[t for t in store.all_targets() if not t.allow],
        verdicts=VERDICTS,
        versions=versions,
        names=_names(r, versions),
    )


def _names(r, versions: list[dict]) -> dict[str, str]:
    found = {}
    for pid in {v["person"] for v in versions if v.get("person")}:
        try:
            found[pid] = people.get(r, pid).name
        except QianfaError:
            found[pid] = pid
    return found


def _render(name: str, errors: dict | None = None, done=None, status: int = 200):
    r = redis_client()
    _propaganda_only(r)
    main = store.target(name)
    lists = {"main": main}
    if main.kind == store.TERMS:
        lists["allow"] = store.target(name, allow=True)
    query = request.args.get("q", "").strip()[:64]
    found = {which: store.search(t, query) for which, t in lists.items()}
    page = render_template(
        "console/lexicon.html",
        main=main,
        lists=lists,
        found={which: lines[:SHOWN] for which, lines in found.items()},
        totals={which: len(store.entries(t)) for which, t in lists.items()},
        matched={which: len(lines) for which, lines in found.items()},
        query=query,
        shown=SHOWN,
        errors=errors or {},
        done=done,
        max_mb=MAX_IMPORT_BYTES // (1024 * 1024),
    )
    return page, status


@bp.get("/lexicons/<name>")
def lexicon_page(name: str):
    return _render(name)


def _add(r, tgt: store.Target) -> store.Change:
    return store.edit(r, actor(), tgt, add=request.form.get("entry", "").splitlines())


def _remove(r, tgt: store.Target) -> store.Change:
    return store.edit(r, actor(), tgt, remove=[request.form.get("entry", "")])


def _import(r, tgt: store.Target) -> store.Change:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("请选择要导入的文件", field="file")
    data = upload.read(MAX_IMPORT_BYTES + 1)
    replace = request.form.get("replace") == "1"
    return store.import_file(r, actor(), tgt, data, upload.filename, replace=replace)


ACTIONS = {"add": _add, "remove": _remove, "import": _import}


@bp.post("/lexicons/<name>/<what>")
def lexicon_action(name: str, what: str):
    """One change to a list; the page answers with what it did, or why it did nothing."""
    r = redis_client()
    _propaganda_only(r)
    if what not in ACTIONS:
        return render_template("console/error.html", message="没有这个操作"), 404
    which = request.form.get("list", "main")
    try:
        done = ACTIONS[what](r, _target(name, which))
    except QianfaError as error:
        return _render(name, {which: error.message}, status=error.status)
    return _render(name, done=done)


@bp.get("/lexicons/<name>/export")
def lexicon_export(name: str):
    r = redis_client()
    _propaganda_only(r)
    tgt = _target(name, request.args.get("list", "main"))
    response = Response(store.export(tgt), content_type="text/plain; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename={tgt.filename}"
    return response
