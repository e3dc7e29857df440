"""The XML of a callback: parsed as defusedxml does, refusing DTDs, entities and externals.

Only what Qianfa reads is kept: the top-level fields of ``<xml>`` as text, and the
nested blocks it knows (``PublishEventInfo``, MASSSENDJOBFINISH's ``ArticleUrlResult``),
so a hostile document cannot make the conversion recurse or grow.

defusedxml's ``ElementTree.fromstring`` runs the pure-Python ``XMLParser`` (a Python call
per tag and name), about 60 µs of a callback's two parses; ``_tree`` sets defusedxml's
same four refusing handlers on an expat parser that feeds the C ``TreeBuilder`` directly,
with the same namespace separator, so the tree is built in C.
"""

import time
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

NESTED = ("PublishEventInfo", "ArticleUrlResult")
ITEM_LISTS = ("article_detail", "ResultList")


class XmlRefused(ValueError):
    """Not a WeChat ``<xml>`` document, or one with a DTD, entities or external references."""


def parse(body: bytes) -> dict:
    """Top-level fields of a callback as strings; known nested blocks as dicts."""
    try:
        root = _tree(body)
    except DefusedXmlException as exc:
        raise XmlRefused(f"XML 含有 DTD、实体或外部引用:{type(exc).__name__}") from None
    except (expat.ExpatError, ParseError, ValueError, UnicodeError):
        raise XmlRefused("不是格式正确的 XML") from None
    if root.tag != "xml":
        raise XmlRefused("根元素不是 <xml>")
    fields: dict = {}
    for child in root:
        if child.tag in NESTED:
            fields[child.tag] = _block(child)
        elif len(child) == 0:
            fields[child.tag] = (child.text or "").strip()
    return fields


def _tree(body: bytes) -> Element:
    """The document's tree; a DTD, an entity declaration or an external reference raises."""
    builder = TreeBuilder()
    parser = expat.ParserCreate(None, "}")  # "}": namespaced names as ElementTree's parser
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler = _start(builder), builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_entity
    parser.UnparsedEntityDeclHandler = _no_unparsed_entity
    parser.ExternalEntityRefHandler = _no_external
    parser.Parse(body, True)
    return builder.close()


def _start(builder: TreeBuilder):
    """``uri}name`` from expat becomes ``{uri}name``, as ElementTree's own parser names it."""

    def start(tag: str, attrs: dict):
        if attrs:
            attrs = {_name(key): value for key, value in attrs.items()}
        return builder.start(_name(tag), attrs)

    return start


def _name(name: str) -> str:
    return "{" + name if "}" in name else name


def _no_dtd(name, sysid, pubid, has_internal_subset):
    raise DTDForbidden(name, sysid, pubid)


def _no_entity(name, is_parameter_entity, value, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation_name)


def _no_unparsed_entity(name, base, sysid, pubid, notation_name):
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation_name)


def _no_external(context, base, sysid, pubid):
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _block(element: Element) -> dict:
    """A nested block: text fields, repeated tags as lists, ``item`` children as dicts."""
    block: dict = {}
    for child in element:
        if len(child):
            value = {leaf.tag: (leaf.text or "").strip() for leaf in child.iter() if not len(leaf)}
            if child.tag in ITEM_LISTS:
                value = [
                    {leaf.tag: (leaf.text or "").strip() for leaf in item}
                    for item in child.findall("item")
                ]
        else:
            value = (child.text or "").strip()
        if child.tag in block:
            previous = block[child.tag]
            block[child.tag] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            block[child.tag] = value
    return block


def cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and open a new one around it.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str) -> str:
    """A passive text reply: To and From swapped relative to the incoming message."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def envelope(encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    """The encrypted reply WeChat expects in compatible and safe mode."""
    return (
        f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce></xml>"
    )
