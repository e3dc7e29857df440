"""Chat commands: what staff say to an official account and what Qianfa answers.

The webhook (``app.webhook``) verifies and decrypts a callback, looks up the sender's
binding, and hands the message here as an ``Inbound``. ``respond`` returns the text
reply, or ``None`` when the message is not for Qianfa (a follower who is not staff),
so the webhook gives the platform's default reply or forwards it downstream.
"""

from dataclasses import dataclass

import redis

from app.masterkey import Keyring
from app.platforms import Platform


@dataclass(frozen=True)
class Inbound:
    """One message from WeChat, already verified; ``person`` is the bound person or ''."""

    openid: str
    type: str
    person: str = ""
    text: str = ""
    media_id: str = ""
    pic_url: str = ""
    url: str = ""
    title: str = ""
    description: str = ""
    event: str = ""


def respond(r: redis.Redis, keyring: Keyring, platform: Platform, message: Inbound) -> str | None:
    """Placeholder until the commands land: nothing is for Qianfa yet."""
    return None
