"""The XML of a callback: parsed with defusedxml, refusing DTDs, entities and externals.

Only what Qianfa reads is kept: the top-level fields of ``<xml>`` as text, and the
nested blocks it knows (``PublishEventInfo``, MASSSENDJOBFINISH's ``ArticleUrlResult``),
so a hostile document cannot make the conversion recurse or grow.
"""

import time
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeTree

NESTED = ("PublishEventInfo", "ArticleUrlResult")
ITEM_LISTS = ("article_detail", "ResultList")


class XmlRefused(ValueError):
    """Not a WeChat ``<xml>`` document, or one with a DTD, entities or external references."""


def parse(body: bytes) -> dict:
    """Top-level fields of a callback as strings; known nested blocks as dicts."""
    try:
        root = SafeTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise XmlRefused(f"XML 含有 DTD、实体或外部引用:{type(exc).__name__}") from None
    except (ParseError, ValueError, UnicodeError):
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
