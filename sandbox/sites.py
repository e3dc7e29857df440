"""Stand-ins for the platforms of art. 2 that have no API a college can use: a website (a
campus CMS: list page, article pages, RSS and a sitemap) and a Weibo account (its page,
one page per post, and an RSS feed such as RSSHub gives).

Publishing on them is by hand, as it is for real: a person uses the page
``/sandbox/sites/<site>`` or the control API (``/sandbox/api/sites/...``) to publish, edit
and delete items. The markup imitates what such sites serve (navigation, breadcrumbs, a
date-and-source line, the article in a ``v_news_content`` block, a footer; a Weibo post in
a ``weibo-text`` block), so Qianfa's extraction is tried on realistic pages. This is a
test stand-in: an article's HTML is shown as given, as a CMS shows it.
"""

import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from xml.sax.saxutils import escape

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template_string,
    request,
    url_for,
)
from markupsafe import Markup

KINDS = {"website": "网站", "weibo": "微博"}
PREFIX = {"website": "/site", "weibo": "/weibo"}

bp = Blueprint("sandbox_sites", __name__)


@dataclass
class Item:
    id: int
    title: str
    html: str
    created: float
    updated: float
    deleted: bool = False

    def to_dict(self, site: "Site") -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "html": self.html,
            "url": site.item_url(self.id),
            "created": int(self.created),
            "updated": int(self.updated),
            "deleted": self.deleted,
        }


@dataclass
class Site:
    id: str
    kind: str
    name: str
    base_url: str
    items: dict[int, Item] = field(default_factory=dict)

    @property
    def home(self) -> str:
        return f"{self.base_url}{PREFIX[self.kind]}/{self.id}/"

    def item_url(self, number: int) -> str:
        if self.kind == "weibo":
            return f"{self.home}{number}"
        return f"{self.home}articles/{number}.html"

    @property
    def feed_url(self) -> str:
        return f"{self.home}{'feed.xml' if self.kind == 'weibo' else 'rss.xml'}"

    def live(self) -> list[Item]:
        """Newest first, deleted ones left out."""
        return sorted((i for i in self.items.values() if not i.deleted), key=lambda i: -i.id)

    def summary(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "home": self.home,
            "feed_url": self.feed_url,
            "sitemap_url": f"{self.home}sitemap.xml",
            "items": [item.to_dict(self) for item in self.items.values()],
        }


class Sites:
    """Every stand-in site of one sandbox, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sites: dict[str, Site] = {}

    def add(self, site_id: str, kind: str, name: str, base_url: str) -> Site:
        if kind not in KINDS:
            raise ValueError(f"类型应为 {'/'.join(KINDS)}")
        if not site_id.isascii() or not site_id.replace("-", "").isalnum():
            raise ValueError("站点标识只能是字母、数字和连字符")
        with self.lock:
            site = self.sites.get(site_id) or Site(site_id, kind, name or site_id, base_url)
            self.sites[site_id] = site
            return site

    def publish(self, site: Site, title: str, html: str) -> Item:
        with self.lock:
            number = max(site.items, default=0) + 1
            now = time.time()
            site.items[number] = Item(number, title, html, now, now)
            return site.items[number]

    def edit(self, site: Site, number: int, title: str | None, html: str | None) -> Item:
        with self.lock:
            item = _item(site, number)
            item.title = item.title if title is None else title
            item.html = item.html if html is None else html
            item.updated = time.time()
            return item

    def delete(self, site: Site, number: int) -> Item:
        with self.lock:
            item = _item(site, number)
            item.deleted = True
            return item


def init_app(app: Flask) -> None:
    """The hook ``sandbox.create_app`` calls: the sites' state and routes."""
    app.extensions["sandbox_sites"] = Sites()
    app.register_blueprint(bp)


def _sites() -> Sites:
    return current_app.extensions["sandbox_sites"]


def _site(site_id: str, kind: str | None = None) -> Site:
    site = _sites().sites.get(site_id)
    if site is None or (kind and site.kind != kind):
        abort(404, f"没有站点 {site_id}")
    return site


def _item(site: Site, number: int) -> Item:
    item = site.items.get(number)
    if item is None:
        raise LookupError(f"站点 {site.id} 没有第 {number} 条")
    return item


def _text_html(text: str) -> str:
    """A Weibo post is text: its lines, escaped."""
    return "<br>".join(escape(line) for line in text.splitlines())


# --- the control API -----------------------------------------------------------------------


@bp.errorhandler(ValueError)
def _bad(exc):
    return jsonify({"error": str(exc)}), 400


@bp.errorhandler(LookupError)
def _missing(exc):
    return jsonify({"error": str(exc)}), 404


def _body() -> dict:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ValueError("请求体必须是 JSON 对象")
    return data


def _content(data: dict, site: Site) -> tuple[str | None, str | None]:
    """(title, html) from ``title`` and ``html``, or a Weibo post's ``text``."""
    html = _text_html(data["text"]) if isinstance(data.get("text"), str) else data.get("html")
    title = data.get("title")
    if site.kind == "weibo" and title is None and isinstance(data.get("text"), str):
        title = data["text"].splitlines()[0][:30] if data["text"] else ""
    for value in (title, html):
        if value is not None and not isinstance(value, str):
            raise ValueError("title、html、text 必须是文字")
    return title, html


@bp.post("/sandbox/api/sites")
def add_site():
    data = _body()
    base = request.host_url.rstrip("/")
    kind = str(data.get("kind", "website"))
    site = _sites().add(str(data.get("id", "")), kind, str(data.get("name", "")), base)
    return jsonify(site.summary()), 201


@bp.get("/sandbox/api/sites")
def list_sites():
    return jsonify([site.summary() for site in _sites().sites.values()])


@bp.get("/sandbox/api/sites/<site_id>")
def site_detail(site_id: str):
    return jsonify(_site(site_id).summary())


@bp.post("/sandbox/api/sites/<site_id>/items")
def publish_item(site_id: str):
    site = _site(site_id)
    title, html = _content(_body(), site)
    if not html:
        raise ValueError("内容不能为空")
    item = _sites().publish(site, title or "", html)
    return jsonify(item.to_dict(site)), 201


@bp.put("/sandbox/api/sites/<site_id>/items/<int:number>")
def edit_item(site_id: str, number: int):
    site = _site(site_id)
    title, html = _content(_body(), site)
    return jsonify(_sites().edit(site, number, title, html).to_dict(site))


@bp.delete("/sandbox/api/sites/<site_id>/items/<int:number>")
def delete_item(site_id: str, number: int):
    site = _site(site_id)
    return jsonify(_sites().delete(site, number).to_dict(site))


# --- the page to publish by hand --------------------------------------------------------------

MANAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>{{ site.name }} · 手工发布</title>
<h1>{{ site.name }}({{ kinds[site.kind] }})· 手工发布</h1>
<p><a href="{{ site.home }}">查看站点</a> ·
订阅 <a href="{{ site.feed_url }}">{{ site.feed_url }}</a></p>
<form method="post"><p><input name="title" placeholder="标题" size="40"></p>
<p><textarea name="body" rows="6" cols="60"
placeholder="正文(网站可填 HTML,微博填文字)"></textarea></p>
<p><button>发布</button></p></form>
<ul>{% for item in site.live() %}<li>
<a href="{{ site.item_url(item.id) }}">{{ item.title or item.id }}</a>
<form method="post"
action="{{ url_for('sandbox_sites.manage_delete', site_id=site.id, number=item.id) }}"
style="display:inline"><button>删除</button></form></li>{% endfor %}</ul></html>"""


@bp.route("/sandbox/sites/<site_id>", methods=["GET", "POST"])
def manage(site_id: str):
    site = _site(site_id)
    if request.method == "POST":
        body = request.form.get("body", "")
        html = _text_html(body) if site.kind == "weibo" else body
        if html:
            _sites().publish(site, request.form.get("title", ""), html)
        return redirect(url_for("sandbox_sites.manage", site_id=site.id))
    return render_template_string(MANAGE, site=site, kinds=KINDS)


@bp.post("/sandbox/sites/<site_id>/items/<int:number>/delete")
def manage_delete(site_id: str, number: int):
    site = _site(site_id)
    _sites().delete(site, number)
    return redirect(url_for("sandbox_sites.manage", site_id=site.id))


# --- the website ----------------------------------------------------------------------------

FRAME = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{% block title %}{% endblock %}{{ site.name }}</title>
<script>var _hmt = _hmt || [];</script></head><body>
<div class="header"><div class="logo">{{ site.name }}</div>
<ul class="nav"><li><a href="{{ site.home }}">首页</a></li><li><a href="#">学院概况</a></li>
<li><a href="#">通知公告</a></li><li><a href="#">学生工作</a></li></ul></div>
<div class="breadcrumb">当前位置:<a href="{{ site.home }}">首页</a> &gt; 学院新闻</div>
{% block main %}{% endblock %}
<div class="footer">版权所有 © 2026 {{ site.name }} · 地址:大学路 1 号 · 邮编 100000
<a href="#">联系我们</a></div></body></html>"""

LIST = FRAME.replace(
    "{% block main %}{% endblock %}",
    """<div class="list"><ul>{% for item in site.live() %}
<li><a href="{{ site.item_url(item.id) }}">{{ item.title }}</a>
<span>{{ item.created | day }}</span></li>{% endfor %}</ul></div>""",
).replace("{% block title %}{% endblock %}", "学院新闻 - ")

ARTICLE = FRAME.replace(
    "{% block main %}{% endblock %}",
    """<div class="main"><h1 class="arti_title">{{ item.title }}</h1>
<p class="arti_metas">发布时间:{{ item.created | day }} 来源:{{ site.name }}
浏览次数:{{ item.id * 7 }}</p>
<div class="v_news_content">{{ html }}</div>
<div class="share">分享到:微信 微博</div>
<div class="related">上一篇:<a href="#">学院召开教学工作会议</a></div></div>""",
).replace("{% block title %}{% endblock %}", "{{ item.title }} - ")

WEIBO = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{{ site.name }}的微博 - 微博</title></head><body>
<div class="WB_global_nav"><a href="#">首页</a><a href="#">发现</a><a href="#">消息</a></div>
<div class="profile"><h2>{{ site.name }}</h2><p>关注 12 · 粉丝 3456</p></div>
{% for item in items %}<div class="card">
<div class="weibo-text">{{ item.html | safe_html }}</div>
<div class="card-footer"><a href="{{ site.item_url(item.id) }}">{{ item.created | day }}</a>
转发 0 评论 0 赞 0</div></div>{% endfor %}
<div class="footer">微博客服 · 京ICP证 100780 号</div></body></html>"""


@bp.app_template_filter("day")
def _day(timestamp) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


@bp.app_template_filter("safe_html")
def _safe_html(html: str):
    return Markup(html)


@bp.get("/site/<site_id>/")
def website(site_id: str):
    return render_template_string(LIST, site=_site(site_id, "website"))


@bp.get("/site/<site_id>/articles/<int:number>.html")
def website_article(site_id: str, number: int):
    site = _site(site_id, "website")
    item = site.items.get(number)
    if item is None or item.deleted:
        abort(404)
    return render_template_string(ARTICLE, site=site, item=item, html=Markup(item.html))


@bp.get("/weibo/<site_id>/")
def weibo(site_id: str):
    site = _site(site_id, "weibo")
    return render_template_string(WEIBO, site=site, items=site.live())


@bp.get("/weibo/<site_id>/<int:number>")
def weibo_post(site_id: str, number: int):
    site = _site(site_id, "weibo")
    item = site.items.get(number)
    if item is None or item.deleted:
        abort(404)
    return render_template_string(WEIBO, site=site, items=[item])


@bp.get("/site/<site_id>/rss.xml")
@bp.get("/weibo/<site_id>/feed.xml")
def rss(site_id: str):
    site = _site(site_id)
    entries = "".join(
        f"<item><title>{escape(item.title)}</title><link>{escape(site.item_url(item.id))}</link>"
        f"<guid>{escape(site.item_url(item.id))}</guid>"
        f"<pubDate>{formatdate(item.created, usegmt=True)}</pubDate>"
        f"<description>{escape(item.html)}</description></item>"
        for item in site.live()
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(site.name)}</title><link>{escape(site.home)}</link>"
        f"<description>{escape(site.name)}</description>{entries}</channel></rss>"
    )
    return Response(body, mimetype="application/rss+xml")


@bp.get("/site/<site_id>/sitemap.xml")
def sitemap(site_id: str):
    site = _site(site_id, "website")
    urls = "".join(f"<url><loc>{escape(site.item_url(i.id))}</loc></url>" for i in site.live())
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )
    return Response(body, mimetype="application/xml")
