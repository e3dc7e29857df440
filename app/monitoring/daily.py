"""The daily report (art. 15: 日常监测): each morning at ``QIANFA_DAILY_REPORT_AT`` (Beijing
time) the propaganda department gets one message about the day before.

``build`` is the one function that gathers it: per platform what was published through
Qianfa and what was found published without review, then the open alerts, the reviews
waiting longer than ``QIANFA_REVIEW_ESCALATE_AFTER``, the dormant platforms (art. 4) and
those WeChat will not let Qianfa watch (48001). The chat message (``text``) and the
console's page render the same ``Report``.

``send`` runs every minute; from the hour on it delivers the day's report to each
propaganda reviewer who has not had it (``deliver``'s claim per person and day), so it
goes out once a day however many dispatchers and workers run, and still goes out when
Qianfa was down at the hour. The first delivery of the day is audited
(``monitoring.daily_report``).
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import redis

from app.core import alertstate, audit, keys
from app.core.alerts import KINDS
from app.core.clock import BEIJING
from app.core.errors import WeChatRetryable
from app.core.settings import Settings
from app.core.store import now
from app.drafts import listing, review
from app.monitoring import inventory, reconcile
from app.notify import deliver, escalation
from app.notify.deliver import Notice
from app.registry import bindcodes, platforms

ACTOR = audit.Actor.system("monitor")
PURPOSE = "daily-report"
SCAN = 10_000
BATCH = 1000  # alert cases read per round trip
SHOWN_KINDS = 6


@dataclass(frozen=True)
class Line:
    """One platform's day."""

    platform: str
    name: str
    published: int
    unreviewed: int
    dormant: bool
    unavailable: bool


@dataclass
class Report:
    day: date
    lines: list[Line] = field(default_factory=list)
    open_alerts: Counter = field(default_factory=Counter)
    overdue_reviews: int = 0

    @property
    def unreviewed(self) -> int:
        return sum(line.unreviewed for line in self.lines)

    @property
    def published(self) -> int:
        return sum(line.published for line in self.lines)

    @property
    def dormant(self) -> list[Line]:
        return [line for line in self.lines if line.dormant]

    @property
    def unavailable(self) -> list[Line]:
        return [line for line in self.lines if line.unavailable]


def window(day: date) -> tuple[datetime, datetime]:
    """The Beijing calendar day, as the moments it starts and ends."""
    start = datetime.combine(day, time(), BEIJING)
    return start, start + timedelta(days=1)


def build(r: redis.Redis, settings: Settings, day: date, only: set[str] | None = None) -> Report:
    """The report about ``day`` (Beijing), for every platform or the ``only`` ones."""
    start, end = window(day)
    shown = [p for p in platforms.all_platforms(r) if only is None or p.id in only]
    unreviewed = Counter(
        c.platform
        for c in alertstate.raised_on(r, day.isoformat(), BATCH)
        if c.kind == "unreviewed_publication" and (only is None or c.platform in only)
    )
    report = Report(day)
    ids = [p.id for p in shown]
    dormant = {p.id for p in inventory.dormant(r, shown, settings.dormant_days, end)}
    published = listing.published_between(r, ids, start.timestamp(), end.timestamp())
    monitored = reconcile.statuses(r, ids)
    for platform, count, state in zip(shown, published, monitored, strict=True):
        report.lines.append(
            Line(
                platform=platform.id,
                name=platform.name,
                published=count,
                unreviewed=unreviewed[platform.id],
                dormant=platform.id in dormant,
                unavailable=state.get("status") == "unavailable",
            )
        )
    report.open_alerts = Counter(
        c.kind for c in alertstate.every_open(r, BATCH) if only is None or c.platform in only
    )
    report.overdue_reviews = _overdue(r, settings, only)
    return report


def _overdue(r: redis.Redis, settings: Settings, only: set[str] | None) -> int:
    """Reviews waiting longer than the escalation delay, now (the dashboard's 审核超时)."""
    late = now() - timedelta(seconds=settings.review_escalate_after)
    return len(review.overdue(r, None if only is None else sorted(only), late, SCAN))


def text(report: Report) -> str:
    """The report as one chat message."""
    lines = [f"【签发日报 · {report.day:%Y-%m-%d}】"]
    lines.append(
        f"昨日经签发发布 {report.published} 条;未经审核发布 {report.unreviewed} 条"
        f"{'(违反第十四条,请处理)' if report.unreviewed else ''}。"
    )
    for line in report.lines:
        if line.published or line.unreviewed:
            lines.append(f"· {line.name}:发布 {line.published},未经审核 {line.unreviewed}")
    total = sum(report.open_alerts.values())
    kinds = "、".join(
        f"{KINDS.get(kind, kind)} {count}"
        for kind, count in report.open_alerts.most_common(SHOWN_KINDS)
    )
    lines.append(f"待处理告警 {total} 条" + (f"({kinds})" if kinds else "") + "。")
    lines.append(f"超时未审稿件 {report.overdue_reviews} 篇。")
    if report.dormant:
        names = "、".join(line.name for line in report.dormant)
        lines.append(f"僵尸号 {len(report.dormant)} 个:{names}(第四条)。")
    if report.unavailable:
        names = "、".join(line.name for line in report.unavailable)
        lines.append(f"无法监测(未认证,48001):{names}。")
    lines.append("回复「告警」查看待处理告警;控制台「日报」页有详情。")
    return deliver.fit("\n".join(lines))


def yesterday(moment: datetime | None = None) -> date:
    """The Beijing day before today: what a report made now is about."""
    return (moment or now()).astimezone(BEIJING).date() - timedelta(days=1)


def due(settings: Settings, moment: datetime | None = None) -> date | None:
    """Today's date (Beijing) once the report's hour has come, else None."""
    here = (moment or now()).astimezone(BEIJING)
    hour, minute = (int(part) for part in settings.daily_report_at.split(":"))
    return here.date() if (here.hour, here.minute) >= (hour, minute) else None


def send(
    r: redis.Redis, api_for: Callable, settings: Settings, moment: datetime | None = None
) -> dict[str, str]:
    """Deliver today's report (about yesterday) to each propaganda reviewer, once."""
    today = due(settings, moment)
    if today is None:
        return {}
    token = today.isoformat()
    waiting = [
        p for p in escalation.propaganda_reviewers(r) if not deliver.claimed(r, PURPOSE, token, p)
    ]
    if not waiting:
        return {}
    report = build(r, settings, today - timedelta(days=1))
    notice = Notice(
        purpose=PURPOSE,
        token=token,
        text=text(report),
        headline="签发日报",
        subject=f"{report.day:%Y-%m-%d}",
        reply=f"发布 {report.published},未经审核 {report.unreviewed},"
        f"待处理告警 {sum(report.open_alerts.values())}",
    )
    if r.set(keys.notified(f"{PURPOSE}:{token}"), "sent", nx=True, ex=deliver.KEEP):
        detail = {"published": report.published, "unreviewed": report.unreviewed}
        audit.record(r, ACTOR, "monitoring.daily_report", subject=token, detail=detail)
    outcomes, passing = {}, []
    for person in waiting:
        try:
            outcomes[person] = _deliver(r, api_for, person, notice)
        except WeChatRetryable as error:
            passing.append(error)
    if passing:
        raise passing[0]
    return outcomes


def _deliver(r: redis.Redis, api_for: Callable, person: str, notice: Notice) -> str:
    home = bindcodes.home_of(r, person)  # the report covers every platform: the home binding
    if home is None:
        return deliver.unreachable(r, person, "", notice)
    return deliver.deliver(r, api_for, person, home[0], home[1], notice)
