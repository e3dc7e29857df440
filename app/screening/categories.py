"""What screening looks for: the categories of the measures, and what each one does by default.

Ids are stable (stored with every result); the Chinese names follow the measures' wording.
The three art. 11 categories share their ids with ``drafts.FLAGS``, so an ``escalate`` hit
has the same effect as the author marking the topic.
"""

from dataclasses import dataclass

BLOCK, ESCALATE, WARN, OFF, PASS = "block", "escalate", "warn", "off", "pass"
VERDICTS = {BLOCK: "拦截", ESCALATE: "报党委宣传部审核", WARN: "提示审核人", OFF: "不检查"}
# Strongest first: a screening's verdict is that of its strongest hit.
STRENGTH = {BLOCK: 3, ESCALATE: 2, WARN: 1, PASS: 0}
ART11 = ("major_event", "emergency", "sensitive_issue")
# An escalated category that is not itself an art. 11 topic counts as a sensitive issue.
DEFAULT_FLAG = "sensitive_issue"


@dataclass(frozen=True)
class Category:
    id: str
    name_zh: str
    name_en: str
    article: str
    default: str


def _art10(number: int, cid: str, zh: str, en: str) -> Category:
    return Category(cid, zh, en, f"第十条第{number}项", BLOCK)


_ALL = [
    _art10(1, "anti_constitution", "反对宪法所规定的基本原则", "Against the constitution"),
    _art10(
        2,
        "national_security",
        "危害国家安全、颠覆国家主权、破坏国家统一",
        "Endangering national security, sovereignty or unity",
    ),
    _art10(3, "national_honour", "损害国家荣誉和利益", "Harming national honour and interests"),
    _art10(4, "ethnic_hatred", "煽动民族仇恨、民族歧视", "Inciting ethnic hatred"),
    _art10(5, "cult_superstition", "宣扬邪教和封建迷信", "Cults and superstition"),
    _art10(6, "rumour", "散布谣言、扰乱社会秩序", "Rumours disturbing social order"),
    _art10(
        7,
        "obscenity_violence",
        "淫秽、色情、赌博、暴力、凶杀、恐怖或教唆犯罪",
        "Obscenity, gambling, violence, terror or crime",
    ),
    _art10(8, "public_morality", "危害社会公德或民族优秀传统文化", "Harming public morality"),
    _art10(9, "defamation", "侮辱或诽谤他人", "Insulting or defaming others"),
    _art10(10, "other_prohibited", "法律法规和学校规定禁止的其他内容", "Otherwise forbidden"),
    # Art. 9 forbids ads outright: an explicit advertising term blocks; the signals that
    # patterns find (contact lines, prices, outside links) are often innocent, so they warn.
    Category("advertising", "商业性广告", "Commercial advertising", "第九条", BLOCK),
    Category("advertising_signal", "广告迹象", "Signs of advertising", "第九条", WARN),
    Category("entertainment", "娱乐性信息", "Entertainment reposts", "第九条", WARN),
    Category("major_event", "学校重大事件", "Major events", "第十一条", ESCALATE),
    Category("emergency", "突发事件", "Emergencies", "第十一条", ESCALATE),
    Category("sensitive_issue", "社会敏感问题", "Sensitive social issues", "第十一条", ESCALATE),
    Category("personal_data", "个人信息", "Personal data", "第十条第9项", WARN),
    Category("credentials", "账号密码与密钥", "Leaked credentials", "第十六条", BLOCK),
]
CATEGORIES: dict[str, Category] = {c.id: c for c in _ALL}


def name_zh(category_id: str) -> str:
    found = ALL_KINDS.get(category_id)
    return found.name_zh if found else category_id


# 错敏: expression errors found by rule files, each with a correct form to suggest. They are
# not prohibited content, but policy.toml sets a verdict for each like for a category.
# Art. 9: content "必须符合社会主义核心价值观,坚持正确的舆论导向"; art. 10.2 forbids
# "破坏领导人形象"; art. 10 covers "文字、图片、音像视频等", so pictures are read too.
_CORRECTIONS = [
    Category(
        "political_expression", "政治性表述错误", "Wrong political expressions", "第九条", ESCALATE
    ),
    Category("outdated_expression", "过时表述", "Outdated formulations", "第九条", WARN),
    Category("leader_title", "领导职务错误", "Wrong leader titles", "第十条第2项", WARN),
    Category("leader_order", "领导排序错误", "Leaders out of protocol order", "第十条第2项", WARN),
    Category("typo", "错别字", "Typos of official writing", "第九条", WARN),
    Category("unreadable_picture", "图片无法识别", "Pictures OCR could not read", "第十条", WARN),
]
CORRECTIONS: dict[str, Category] = {c.id: c for c in _CORRECTIONS}
# Everything policy.toml sets a verdict for.
ALL_KINDS: dict[str, Category] = {**CATEGORIES, **CORRECTIONS}
