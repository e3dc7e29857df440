"""Publishing channels: how an approved draft reaches its platform, one entry per way.

Review knows nothing of channels. ``schedule.schedule`` records a publication and hands it
to its platform's channel: ``wechat`` runs the recorded steps against WeChat's API
(``app.publishing.steps``); ``manual`` waits for an administrator to publish by hand and
report the page (``app.publishing.manual``). A platform kind with a publishing API that
Qianfa can use (a Weibo or CMS client, later) is one more ``Channel`` here and one line in
``BY_KIND``; every kind not named there is published by hand.
"""

from collections.abc import Callable
from dataclasses import dataclass

from app.outbox import queues
from app.publishing import manual
from app.publishing import record as pubs
from app.publishing.steps import Publisher


@dataclass(frozen=True)
class Channel:
    """``begin_in(tx, pub, due, settings)`` records the new publication in the scheduling
    transaction; ``start(r, settings, pub, when)`` follows once it is committed;
    ``advance(r, settings, pub, lease)`` is one run of it."""

    name: str
    label: str
    first_step: str
    automatic: bool  # Qianfa publishes it; otherwise a person does and reports
    begin_in: Callable
    start: Callable
    advance: Callable


def _enqueue(r, settings, pub, when) -> None:
    queues.enqueue_publish(
        r, pub.draft, pub.version, pub.run, at=when, timeout=settings.publish_job_timeout
    )


WECHAT = Channel(
    "wechat",
    "微信接口发布",
    pubs.QUEUED,
    True,
    begin_in=lambda tx, pub, due, settings: pubs.write_in(tx, pub, due=due),
    start=_enqueue,
    advance=lambda r, settings, pub, lease: Publisher(r, settings, pub, lease).advance(),
)
MANUAL = Channel(
    "manual",
    "手工发布后报告链接",
    pubs.MANUAL,
    False,
    begin_in=lambda tx, pub, due, settings: manual.await_in(tx, pub, settings),
    start=lambda r, settings, pub, when: None,
    advance=lambda r, settings, pub, lease: pub.step,  # nothing to do until the report
)
CHANNELS = {channel.name: channel for channel in (WECHAT, MANUAL)}
BY_KIND = {"wechat": WECHAT.name}  # platform kind -> channel; the rest are MANUAL


def for_kind(kind: str) -> Channel:
    return CHANNELS[BY_KIND.get(kind, MANUAL.name)]


def of(pub) -> Channel:
    """The channel a stored publication was made for (older records: WeChat's)."""
    return CHANNELS.get(pub.channel or WECHAT.name, WECHAT)
