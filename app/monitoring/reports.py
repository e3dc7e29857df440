"""Reports (举报, art. 15: problems are reported and 妥善处理): any bound staff member tells
the propaganda department of a problem they saw, with a link or a description.

A report becomes a ``problem_report`` alert (so it is numbered, delivered, escalated and
worked to the end like any other) with the reporter recorded, audited in the same
transaction. Who may report is decided from the stored roles (anyone who holds one);
each person may report ``LIMIT`` times per ``WINDOW`` seconds, so the desk cannot be
flooded. Chat and the console both come through ``report``.
"""

import re
import time
from dataclasses import dataclass

import redis

from app.core import alerts, audit, keys, validate
from app.core.errors import Forbidden, InvalidInput, NotFound
from app.core.store import Tx, atomically
from app.registry import people, platforms

KIND = "problem_report"
TEXT_MAX = 500
LIMIT = 5
WINDOW = 3600
URL = re.compile(r"https?://[^\s<>\"']+")
EMPTY = "请写明举报的链接或问题说明,例如:举报 https://mp.weixin.qq.com/s/… 文中有错误信息"


@dataclass(frozen=True)
class Report:
    number: str
    platform: str
    text: str


def report(r: redis.Redis, actor: audit.Actor, platform_id: str, text: str) -> Report:
    """Turn one staff member's report into an alert for the propaganda department."""
    person = _reporter(r, actor)
    pid = platforms.get(r, platform_id).id if platform_id else ""
    text = " ".join(validate.text(text, "举报内容", max_len=TEXT_MAX, required=False).split())
    if not text:
        raise InvalidInput(EMPTY)
    quota = keys.report_quota(person.id)
    found = URL.search(text)
    detail = {"reporter": person.id, "reporter_name": person.name, "text": text}
    detail["url"] = found.group(0) if found else ""
    where = f"(平台 {pid})" if pid else ""
    message = f"{person.name}({person.id})举报{where}:{text}"

    def change(tx: Tx) -> str:
        moment = time.time()
        tx.watch(quota)
        recent = tx.read.zcount(quota, moment - WINDOW, "+inf")
        if recent >= LIMIT:
            raise Forbidden(
                f"你在一小时内已举报 {LIMIT} 次,请稍后再试;紧急情况请直接联系党委宣传部",
                code="report_throttled",
            )
        number = alerts.reserve(tx)  # the reporter is told it
        tx.write.zremrangebyscore(quota, "-inf", moment - WINDOW)
        tx.write.zadd(quota, {f"{moment:.6f}": moment})
        tx.write.expire(quota, WINDOW)
        audit.append(tx, actor, "monitoring.report", platform=pid, reason=text, detail=detail)
        alerts.queue_in(tx, KIND, message, platform=pid, detail=detail, number=number)
        return number

    return Report(atomically(r, [quota], change), pid, text)


def _reporter(r: redis.Redis, actor: audit.Actor) -> people.Person:
    """Any bound staff member: a person holding at least one role."""
    if not actor.person or not people.grants(r, actor.person):
        raise Forbidden("只有已绑定身份的工作人员可以举报", code="report_unbound")
    try:
        return people.get(r, actor.person)
    except NotFound:
        raise Forbidden("只有已绑定身份的工作人员可以举报", code="report_unbound") from None
