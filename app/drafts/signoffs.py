"""The sign-off policy (审核要求): who must sign off a draft before it is published.

``required_signoffs`` is the whole policy of the measures, as one pure function over the
platform's tier, the draft's art. 11 flags and whether a unit contributed it (art. 14).
It sits below ``lifecycle`` so that a draft entering review is indexed under the sign-offs
it waits for (``listing``) in the same transaction; ``review`` applies it.
"""

from dataclasses import dataclass

# Art. 11: major events, emergencies and sensitive social issues need the propaganda department.
FLAGS = {"major_event": "重大事件", "emergency": "突发事件", "sensitive_issue": "社会敏感问题"}

RESPONSIBLE = "responsible"
PROPAGANDA = "propaganda"
SIGNOFFS = {RESPONSIBLE: "第一责任人", PROPAGANDA: "党委宣传部"}


@dataclass(frozen=True)
class Requirement:
    """``platform``: whose first responsible person gives a ``RESPONSIBLE`` sign-off;
    ``after``: the sign-off that must be given before this one may be."""

    signoff: str
    rule: str
    platform: str = ""
    after: str = ""


# Art. 14: who gives the responsible person's sign-off, and in what order the propaganda
# department follows, for a draft of the platform's own administrator and for a unit's
# contribution to a tier-1 platform (each row: rule, then the sign-off it waits for).
RESPONSIBLE_RULES = {
    False: ("第十四条:管理员发布信息须经第一责任人审核", ""),
    True: ("第十四条:单位在学校官方平台发布信息,先经本单位第一责任人审核", RESPONSIBLE),
}


def answering_platform(platform, draft) -> str:
    """The platform whose first responsible person signs: the contributing unit's, if any."""
    return draft.contributed_from or platform.id


def required_signoffs(platform, draft, flags: frozenset[str] | None = None) -> list[Requirement]:
    """The sign-offs a draft needs before it may be published (art. 11, 14).

    ``flags`` are the draft's art. 11 flags, with those content screening found added;
    by default the draft's own.
    """
    flags = draft.flags if flags is None else flags
    rule, then = RESPONSIBLE_RULES[bool(draft.contributed_from)]
    required = [Requirement(RESPONSIBLE, rule, answering_platform(platform, draft))]
    reasons = []
    if platform.tier == 1:
        reasons.append("第十四条:在学校官方(一级)平台发布须经党委宣传部审核")
    touched = sorted(set(flags) & set(FLAGS))
    if touched:
        topics = "、".join(FLAGS[flag] for flag in touched)
        reasons.append(f"第十一条:涉及{topics},须经党委宣传部批准")
    if reasons:
        required.append(Requirement(PROPAGANDA, ";".join(reasons), after=then))
    return required


def due(required: list[Requirement], given) -> list[str]:
    """The missing sign-offs that may be given now: each waits for its ``after`` (art. 14: a
    contribution's propaganda sign-off follows the unit's responsible person's)."""
    missing = [req.signoff for req in required if req.signoff not in given]
    return [req.signoff for req in required if req.signoff in missing and req.after not in missing]
