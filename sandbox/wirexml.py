"""The XML WeChat puts on the wire: CDATA for text, bare numbers, nested and repeated tags.

Parsing goes through defusedxml, since replies come from a server the sandbox does not trust.
"""

from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree


class XmlError(ValueError):
    """Text that is not a WeChat ``<xml>`` document."""


def cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and open a new one around it.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _render_value(tag: str, value) -> str:
    if isinstance(value, list):
        return "".join(_render_value(tag, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_render_value(key, item) for key, item in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, bool | int | float):
        return f"<{tag}>{int(value) if isinstance(value, bool) else value}</{tag}>"
    return f"<{tag}>{cdata(str(value))}</{tag}>"


def render(fields: dict) -> str:
    """Render a message: one element per line, as WeChat's own callbacks look."""
    lines = [_render_value(tag, value) for tag, value in fields.items()]
    return "<xml>" + "\n".join(lines) + "\n</xml>"


def _to_python(element: Element):
    children = list(element)
    if not children:
        return element.text or ""
    result: dict = {}
    for child in children:
        value = _to_python(child)
        if child.tag in result:
            previous = result[child.tag]
            result[child.tag] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            result[child.tag] = value
    return result


def parse(text: str | bytes) -> dict:
    """Parse a WeChat ``<xml>`` document into nested dicts (lists for repeated tags)."""
    try:
        root = ElementTree.fromstring(text)
    except (ParseError, ValueError) as exc:
        raise XmlError(str(exc)) from exc
    if root.tag != "xml":
        raise XmlError(f"root element is <{root.tag}>, not <xml>")
    value = _to_python(root)
    return value if isinstance(value, dict) else {}
