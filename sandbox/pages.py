"""Pages for people: each account's articles, mass sends and every simulated user's chat.

The account page reloads itself every few seconds (unless you are typing), so a demo can
be watched like a phone screen; each user's card has a box to send a message as them.
Its back-office forms play an administrator at mp.weixin.qq.com (``backoffice``): publish
an article or mass-send without Qianfa, edit or delete an online article.
"""

import html
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from sandbox import backoffice, pictures, publishing, simulate
from sandbox.api.base import current_world
from sandbox.config import BEIJING
from sandbox.control import account_detail
from sandbox.errors import WeChatError
from sandbox.state import MODE_NAMES, StateError

bp = Blueprint("sandbox_pages", __name__)

PUBLISH_STATUS = {
    0: "发布成功",
    1: "发布中",
    2: "原创校验失败",
    3: "常规失败",
    4: "平台审核不通过",
    5: "已被删除",
    6: "已被封禁",
}
OUTCOMES = {
    "pending": "投递中",
    "replied": "已被动回复",
    "acked": "已确认(success)",
    "failed": "失败",
    "no_server": "未配置服务器",
}


@bp.app_template_filter("clock")
def _clock(timestamp) -> str:
    moment = datetime.fromtimestamp(int(timestamp), UTC) + BEIJING
    return moment.strftime("%m-%d %H:%M:%S")


def _message_lines(line: dict) -> list[str]:
    kind = line.get("MsgType") or line.get("msgtype")
    if kind == "event":
        key = line.get("EventKey")
        return [f"[事件 {line.get('Event')}{':' + key if key else ''}]"]
    if kind == "text":
        return [line.get("Content") or line.get("content") or ""]
    if kind == "image":
        return ["[图片]", line.get("PicUrl", "")]
    if kind == "link":
        return [f"[链接] {line.get('Title', '')}", line.get("Url", "")]
    if kind == "location":
        return [f"[位置] {line.get('Label', '')}"]
    if kind == "template":
        values = [f"{key}:{value}" for key, value in line.get("data", {}).items()]
        return [f"【{line.get('title') or '模板消息'}】", *values, line.get("url", "")]
    return [f"[{kind}]", *line.get("titles", [])]


@bp.app_template_filter("bubble")
def _bubble(line: dict, appid: str) -> list[tuple[str, str]]:
    """The lines of one chat bubble as (text, link) pairs; articles link to their page."""
    if line.get("msgtype") in ("news", "mpnews") and line.get("articles"):
        href = f"/accounts/{appid}/articles/{line['article_id']}" if line.get("article_id") else ""
        return [("[图文]", "")] + [(a.get("title", ""), href) for a in line["articles"]]
    return [(text, "") for text in _message_lines(line) if text]


@bp.app_context_processor
def _labels() -> dict:
    samples = {name: label for name, (label, *_) in pictures.SAMPLES.items()}
    return {
        "PUBLISH_STATUS": PUBLISH_STATUS,
        "OUTCOMES": OUTCOMES,
        "MODES": MODE_NAMES,
        "SAMPLES": samples,
    }


@bp.get("/")
def index():
    world = current_world()
    with world.lock:
        accounts = [account.summary() for account in world.accounts.values()]
        busy = world.busy()
    return render_template("index.html", accounts=accounts, busy=busy, base=request.host_url)


@bp.get("/accounts/<appid>")
def account(appid: str):
    world = current_world()
    with world.lock:
        found = world.account(appid)
        if found is None:
            abort(404, f"没有账号 {appid}")
        detail = account_detail(world, found)
        detail["deliveries"] = list(found.deliveries)[-20:][::-1]
    return render_template("account.html", account=detail)


@bp.get("/accounts/<appid>/articles/<article_id>")
def article(appid: str, article_id: str):
    world = current_world()
    with world.lock:
        found = world.account(appid)
        online = found.articles.get(article_id) if found else None
        if online is None:
            abort(404, "没有这篇文章")
        items = [dict(item) for item in online["news_item"]]
    return render_template("article.html", appid=appid, items=items)


@bp.post("/accounts/<appid>/users/<openid>/send")
def send(appid: str, openid: str):
    """The form on a user's card: send a text, a sample picture or an uploaded one."""
    world = current_world()
    with world.lock:
        found = world.account(appid)
        user = found.user(openid) if found else None
        if user is None:
            abort(404, "没有这个用户")
    picture = _picture(world)
    if picture:
        url = url_for("sandbox_pages.picture", name=picture, _external=True)
        simulate.act(world, found, user, {"type": "image", "pic_url": url})
    content = request.form.get("content", "").strip()
    if content:
        simulate.act(world, found, user, {"type": "text", "content": content})
    return redirect(url_for("sandbox_pages.account", appid=appid, _anchor=openid))


@bp.post("/accounts/<appid>/backoffice")
def backoffice_post(appid: str):
    """The back office's editor: 发表 (publish) or 群发 (mass-send) what the form holds."""
    form = {name: request.form.get(name, "").strip() for name in ("title", "content")}
    action = request.form.get("action", "")
    if action not in ("publish", "mass"):
        raise StateError("请选择发表或群发")
    spec = {"content": form["content"], "notify": request.form.get("notify") == "1"}
    if form["title"] or action == "publish":
        spec["title"] = form["title"]
    how = backoffice.publish if action == "publish" else backoffice.mass_send
    _in_backoffice(appid, lambda world, found: how(world, found, spec))
    return redirect(url_for("sandbox_pages.account", appid=appid, _anchor="backoffice"))


@bp.post("/accounts/<appid>/backoffice/articles/<article_id>")
def backoffice_article(appid: str, article_id: str):
    """Edit (the body of one item) or delete an online article, as in the back office."""
    action = request.form.get("action", "")
    index = request.form.get("index", "1")
    if action not in ("edit", "delete") or not index.isdigit():
        raise StateError("请选择修改或删除")
    if action == "edit":
        spec = {"content": request.form.get("content", ""), "index": int(index)}
        if not spec["content"].strip():
            raise StateError("请填写修改后的正文")
        _in_backoffice(appid, lambda world, found: backoffice.edit(world, found, article_id, spec))
    else:
        _in_backoffice(
            appid, lambda world, found: publishing.delete(world, found, article_id, int(index))
        )
    return redirect(url_for("sandbox_pages.account", appid=appid, _anchor="articles"))


def _in_backoffice(appid: str, action) -> None:
    """Run one back-office action under the world's lock; WeChat's refusal is said as such."""
    world = current_world()
    with world.lock:
        found = world.account(appid)
        if found is None:
            abort(404, f"没有账号 {appid}")
        try:
            action(world, found)
        except WeChatError as exc:
            raise StateError(f"微信拒绝:{exc.errcode}") from exc


def _picture(world) -> str:
    """The picture the form sends: an uploaded file, else the chosen sample, else none."""
    upload = request.files.get("picture")
    if upload is not None and upload.filename:
        return pictures.store(world, upload.filename, upload.read())
    chosen = request.form.get("sample", "")
    if chosen and chosen not in pictures.SAMPLES:
        raise StateError("没有这张示例图片")
    return chosen


@bp.errorhandler(StateError)
def _refused(exc: StateError):
    """A form that cannot be carried out: say why, in a page, and change nothing."""
    body = f"<!doctype html><meta charset=utf-8><p>{html.escape(str(exc))}</p>"
    return Response(body + '<p><a href="javascript:history.back()">返回</a></p>', status=400)


@bp.get("/pictures/<name>")
def picture(name: str):
    """A picture a simulated user sent, as WeChat's media host would serve it."""
    found = pictures.read(current_world(), name)
    if found is None:
        abort(404, "没有这张图片")
    data, mimetype = found
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "max-age=86400"})
