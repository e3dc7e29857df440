"""The demo that ``qianfa run`` sets up when no real WeChat account is configured.

It registers, once and again harmlessly on every start, the Qianfa side of the sandbox's
demo account (``sandbox.demo``): a unit, the two staff members, the platform ``demo``
with the same AppID, filed through the whole chain of its form (art. 6) and so active,
with its AppSecret, Token and EncodingAESKey sealed, and a default reply for followers.
Each start prints a fresh bind code for staff not yet bound.
"""

import redis

from app.core.audit import Actor
from app.core.masterkey import Keyring
from app.registry import bindcodes, credentials, filings, people, platforms, sites, units
from app.webhook import config as webhook_config

# The sandbox's demo account as its owner would copy it from WeChat's console: Qianfa and
# the sandbox share nothing but HTTP, so these values are configuration, kept equal to the
# sandbox's own (tests/test_demo.py checks that they are).
DEMO_ACCOUNT = {
    "appid": "wx51a7fa0000de0001",
    "secret": "51a7fa0000de000151a7fa0000de0001",
    "token": "qianfademo",
    "encoding_aes_key": "QianfaSandboxDemoKey0123456789abcdefghijklm",
    "name": "签发演示服务号",
}
DEMO_USERS = [
    {"openid": "oQianfaDemoStaff00000000001", "nickname": "张老师"},
    {"openid": "oQianfaDemoStaff00000000002", "nickname": "王主任"},
]
PLATFORM = "demo"
ACTOR = Actor.system("demo")
UNIT, SUPERVISOR = "签发演示学院", "党委宣传部(演示)"
DEFAULT_REPLY = "这里是签发演示服务号。工作人员请先发送「绑定 绑定码」完成绑定。"
SECRETS = {
    "app_secret": DEMO_ACCOUNT["secret"],
    "token": DEMO_ACCOUNT["token"],
    "encoding_aes_key": DEMO_ACCOUNT["encoding_aes_key"],
}


def _unit(r: redis.Redis, name: str, kind: str) -> str:
    for unit in units.all_units(r):
        if unit.name == name:
            return unit.id
    return units.create(r, ACTOR, name, kind).id


def _register(r: redis.Redis) -> None:
    unit, supervisor = _unit(r, UNIT, "secondary_college"), _unit(r, SUPERVISOR, "propaganda")
    admin = people.create(r, ACTOR, DEMO_USERS[0]["nickname"], title="管理员", unit=unit)
    responsible = people.create(r, ACTOR, DEMO_USERS[1]["nickname"], title="第一责任人", unit=unit)
    platforms.create(
        r,
        ACTOR,
        PLATFORM,
        name=DEMO_ACCOUNT["name"],
        kind="wechat",
        tier=2,
        unit=unit,
        supervising_unit=supervisor,
        responsible=responsible.id,
        admins=[admin.id],
        appid=DEMO_ACCOUNT["appid"],
        purpose="沙箱演示",
    )


WEBSITE = "demo-web"
WEBSITE_NAME = "签发演示学院新闻网"  # the sandbox's demo site (sandbox/demo.py DEMO_SITE)


def ensure_website(r: redis.Redis, sandbox_port: int) -> list[str]:
    """The demo's website platform beside the WeChat one: no publishing API, so drafts are
    published by hand on the sandbox's stand-in site and reported (docs/feeds.md)."""
    if not platforms.exists(r, WEBSITE):
        demo = platforms.get(r, PLATFORM)
        platforms.create(
            r,
            ACTOR,
            WEBSITE,
            name=WEBSITE_NAME,
            kind="website",
            tier=2,
            unit=demo.unit,
            supervising_unit=demo.supervising_unit,
            responsible=demo.responsible,
            admins=sorted(demo.admins),
            purpose="沙箱演示:手工发布的网站",
        )
        home = f"http://127.0.0.1:{sandbox_port}/site/news/"
        sites.set_domain(r, ACTOR, WEBSITE, f"127.0.0.1:{sandbox_port}")
        sites.set_feed(r, ACTOR, WEBSITE, home + "rss.xml")
    if platforms.get(r, WEBSITE).status == platforms.FILING and not _form_open(r, WEBSITE):
        filings.file_in_one_go(r, ACTOR, WEBSITE, signer="演示签字人", opinion="同意开设演示网站")
    return [f"演示网站平台 {WEBSITE}:审核通过后在沙箱网站手工发布,再发送「已发布 D编号 链接」"]


def _form_open(r: redis.Redis, platform_id: str = PLATFORM) -> bool:
    return any(f.status == filings.OPEN for f in filings.of_platform(r, platform_id))


def ensure(r: redis.Redis, keyring: Keyring, bind_code_ttl: int) -> list[str]:
    """Register what is missing of the demo; return the lines telling staff how to bind."""
    if not platforms.exists(r, PLATFORM):
        _register(r)
        webhook_config.configure(r, keyring, ACTOR, PLATFORM, default_reply=DEFAULT_REPLY)
    platform = platforms.get(r, PLATFORM)
    if platform.status == platforms.FILING and not _form_open(r):
        filings.file_in_one_go(r, ACTOR, PLATFORM, signer="演示签字人", opinion="同意开设演示平台")
        platform = platforms.get(r, PLATFORM)
    stored = credentials.status(r, PLATFORM)
    for name, value in SECRETS.items():
        if not stored[name]["set"]:
            credentials.set_secret(r, keyring, ACTOR, PLATFORM, name, value)
    lines = [
        f"演示平台 {PLATFORM}(回调地址 /wechat/{PLATFORM}):{platforms.STATUSES[platform.status]}"
    ]
    staff = {"admin": next(iter(sorted(platform.admins))), "responsible": platform.responsible}
    for user, person in zip(DEMO_USERS[:2], staff.values(), strict=True):
        name = user["nickname"]
        if bindcodes.person_for(r, PLATFORM, user["openid"]):
            lines.append(f"  「{name}」已绑定({person})")
            continue
        code = bindcodes.issue(r, keyring, ACTOR, person, PLATFORM, bind_code_ttl)
        lines.append(f"  在沙箱页面以「{name}」的身份发送:绑定 {code}")
    return lines


def next_steps(page: str, console: str, unbound: bool) -> list[str]:
    """The three things to do next, last in ``qianfa run``'s output; the rest is reference."""
    admin, responsible = DEMO_USERS[0]["nickname"], DEMO_USERS[1]["nickname"]
    account = f"{page}accounts/{DEMO_ACCOUNT['appid']}"
    steps = [
        f"打开沙箱页面 {account},在「{admin}」「{responsible}」的卡片里发送上面的「绑定 …」",
        f"以「{admin}」的身份发送「投稿」、一段文字、一张图片(卡片上选示例图片)、"
        "「标题 …」和「提交」",
        f"以「{responsible}」的身份发送「待审」,再「同意 D编号」;"
        f"发布后打开控制台 {console} 看审计记录",
    ]
    if not unbound:
        steps = [f"打开沙箱页面 {account}", *steps[1:]]
    return ["接下来:", *(f"  {n}. {step}" for n, step in enumerate(steps, 1))]


def curl_hint(sandbox: str) -> str:
    """Sending as a user from the shell: an alternative to the page, not a step."""
    staff = DEMO_USERS[0]
    url = f"{sandbox}/sandbox/api/accounts/{DEMO_ACCOUNT['appid']}/users/{staff['openid']}/messages"
    body = '{"type": "text", "content": "帮助"}'
    return (
        f"(也可以在命令行以「{staff['nickname']}」的身份发消息:"
        f"curl -X POST {url} -H 'Content-Type: application/json' -d '{body}')"
    )
