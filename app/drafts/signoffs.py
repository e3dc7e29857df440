"""The sign-off policy (审核要求): who must sign off a draft before it is published.

``required_signoffs`` is the whole policy of the measures, as one pure function over the
platform's tier and the draft's art. 11 flags. It sits below ``lifecycle`` so that a draft
entering review is indexed under the sign-offs it waits for (``listing``) in the same
transaction; ``review`` applies it.
"""

from dataclasses import dataclass

# Art. 11: major events, emergencies and sensitive social issues need the propaganda department.
FLAGS = {"major_event": "重大事件", "emergency": "突发事件", "sensitive_issue": "社会敏感问题"}

RESPONSIBLE = "responsible"
PROPAGANDA = "propaganda"
SIGNOFFS = {RESPONSIBLE: "第一责任人", PROPAGANDA: "党委宣传部"}


@dataclass(frozen=True)
class Requirement:
    signoff: str
    rule: str


def required_signoffs(platform, draft, flags: frozenset[str] | None = None) -> list[Requirement]:
    """The sign-offs a draft needs before it may be published (art. 11, 14).

    ``flags`` are the draft's art. 11 flags, with those content screening found added;
    by default the draft's own.
    """
    flags = draft.flags if flags is None else flags
    required = [Requirement(RESPONSIBLE, "第十四条:管理员发布信息须经第一责任人审核")]
    reasons = []
    if platform.tier == 1:
        reasons.append("第十四条:在学校官方(一级)平台发布须经党委宣传部审核")
    touched = sorted(set(flags) & set(FLAGS))
    if touched:
        topics = "、".join(FLAGS[flag] for flag in touched)
        reasons.append(f"第十一条:涉及{topics},须经党委宣传部批准")
    if reasons:
        required.append(Requirement(PROPAGANDA, ";".join(reasons)))
    return required
