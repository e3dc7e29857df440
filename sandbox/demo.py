"""The demo account ``python -m sandbox --demo`` registers, and how to use it (in Chinese).

Its server URL is Qianfa's webhook for a platform named ``demo``; its settings are fixed so
that Qianfa's own demo set-up can register the same AppID, secret, token and key.
"""

import json

from sandbox.state import MODE_NAMES, World

DEMO_ACCOUNT = {
    "appid": "wx51a7fa0000de0001",
    "secret": "51a7fa0000de000151a7fa0000de0001",  # 32 hex, as a real AppSecret
    "token": "qianfademo",
    "encoding_aes_key": "QianfaSandboxDemoKey0123456789abcdefghijklm",
    "server_url": "http://127.0.0.1:8000/wechat/demo",
    "encrypt_mode": "safe",
    "name": "签发演示服务号",
    "original_id": "gh_51a7fa0de001",
    "kind": "service",
    "verified": True,
}
DEMO_USERS = [
    {"openid": "oQianfaDemoStaff00000000001", "nickname": "张老师", "role": "staff"},
    {"openid": "oQianfaDemoStaff00000000002", "nickname": "王主任", "role": "staff"},
    {"openid": "oQianfaDemoFollower00000001", "nickname": "李同学", "tags": [2]},
]
DEMO_TEMPLATE = {
    "template_id": "qianfa-demo-review-notice-template-000000001",
    "title": "审核提醒",
    "content": "{{thing1.DATA}} {{thing2.DATA}} {{time3.DATA}}",
}


DEMO_SITE = {"id": "news", "kind": "website", "name": "签发演示学院新闻网"}


def install_site(sites, base_url: str) -> dict:
    """The demo's stand-in website, published on by hand (``sandbox.sites``)."""
    return sites.add(DEMO_SITE["id"], DEMO_SITE["kind"], DEMO_SITE["name"], base_url).summary()


def install(world: World, server_url: str | None = None) -> dict:
    """Register the demo account, its users and template; return the account's settings.

    A demo account kept from an earlier run (``--state``) is used as it is."""
    spec = dict(DEMO_ACCOUNT, server_url=server_url or DEMO_ACCOUNT["server_url"])
    with world.lock:
        kept = world.account(spec["appid"])
        if kept is not None:
            kept.configure({"server_url": spec["server_url"]})
            return kept.settings()
        account = world.add_account(spec)
        for user in DEMO_USERS:
            world.add_user(account, user)
        account.templates[DEMO_TEMPLATE["template_id"]] = dict(DEMO_TEMPLATE)
        return account.settings()


def instructions(base_url: str, settings: dict) -> str:
    """What ``python -m sandbox --demo`` prints: the account, and how to talk as a user."""
    appid, staff = settings["appid"], DEMO_USERS[0]
    body = json.dumps({"type": "text", "content": "你好"}, ensure_ascii=False)
    url = f"{base_url}/sandbox/api/accounts/{appid}/users/{staff['openid']}/messages"
    return "\n".join(
        [
            f"沙箱微信已启动:{base_url}  (Ctrl-C 停止)",
            f"查看页面(文章、群发、每个用户的聊天):{base_url}/",
            # Secrets are never printed, demo ones included: logs of `qianfa run` get kept.
            f"演示账号「{settings['name']}」:AppID {appid}  {MODE_NAMES[settings['encrypt_mode']]}",
            "  AppSecret、Token、EncodingAESKey 为演示固定值,见 sandbox/demo.py",
            f"  服务器地址 {settings['server_url']}",
            f"让 Qianfa 使用沙箱:QIANFA_WECHAT_API_BASE={base_url}",
            f"以「{staff['nickname']}」的身份发一条消息:",
            f"  curl -X POST {url} -H 'Content-Type: application/json' -d '{body}'",
            "也可以在查看页面里直接输入消息。",
        ]
    )
