"""An article's HTML as it may be shown to a reviewer: what WeChat's editor makes, nothing more.

The author's HTML is kept as submitted (its hash is what reviewers sign, and it is what
WeChat receives); only what a browser displays is cleaned here. The clean copy is served
on its own as a sandboxed frame (``app.web.headers``), never inside a page with a form.
"""

import nh3
from flask import render_template
from markupsafe import Markup

# The elements WeChat's article editor produces. Everything else is dropped, keeping its text.
TAGS = {
    *("p", "span", "section", "div", "br", "hr", "strong", "b", "em", "i", "u", "s", "del"),
    *("sub", "sup", "small", "mark", "code", "pre", "blockquote", "figure", "figcaption"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "img"),
    *("table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td"),
}
# Elements dropped together with everything inside them: their content is not article text.
DROPPED_WITH_CONTENT = {
    *("script", "style", "template", "noscript", "title", "textarea", "select", "option"),
    *("svg", "math", "iframe", "object", "embed", "frameset", "noembed", "xmp"),
}
ATTRIBUTES = {
    "*": {"style", "title", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start", "type"},
    "col": {"span", "width"},
    "td": {"colspan", "rowspan", "width", "valign"},
    "th": {"colspan", "rowspan", "width", "valign"},
}
URL_SCHEMES = {"http", "https"}
# CSS the editor writes: type, colour, spacing, borders and sizes. No positioning, no
# z-order, no URLs (background images), so nothing can be laid over or fetched from CSS.
STYLE_PROPERTIES = {
    *("color", "background-color", "font-size", "font-weight", "font-style", "font-family"),
    *("text-align", "text-decoration", "text-indent", "line-height", "letter-spacing"),
    *("word-break", "word-wrap", "overflow-wrap", "white-space", "vertical-align"),
    *("margin", "margin-top", "margin-right", "margin-bottom", "margin-left"),
    *("padding", "padding-top", "padding-right", "padding-bottom", "padding-left"),
    *("border", "border-top", "border-right", "border-bottom", "border-left"),
    *("border-color", "border-style", "border-width", "border-radius", "border-collapse"),
    *("width", "max-width", "min-width", "height", "max-height", "min-height"),
    *("box-sizing", "display", "list-style-type"),
}

_CLEANER = nh3.Cleaner(
    tags=TAGS,
    clean_content_tags=DROPPED_WITH_CONTENT,
    attributes=ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    filter_style_properties=STYLE_PROPERTIES,
    link_rel="noopener noreferrer",
)


def clean(html: str) -> str:
    """The article's HTML with every element, attribute, URL and style outside the lists gone."""
    return _CLEANER.clean(html or "")


def frame(html: str) -> str:
    """The frame document a review page or preview shows the article's body in.

    Only the two frame routes (``app.web.headers.FRAMES``) call this: their responses carry
    ``Content-Security-Policy: sandbox`` and no cookie, so the cleaned markup never shares a
    page with a session, a form or a CSRF token.
    """
    return render_template("article_body.html", body=Markup(clean(html)))
