"""``user/get``, ``user/info``, ``getcallbackip`` through wechatpy, and 41001 for a call
without an access token, whatever its path (issue 13, item 7)."""

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, world):
        register_sample_account(control)
        control.add_user(SAMPLE_APPID, nickname="已取关的同学", subscribed=False)
        for number in range(2):
            control.add_user(SAMPLE_APPID, nickname=f"同学{number}", tags=[2])
        client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET, auto_retry=False, timeout=10)
        yield url, control, client


def test_wechatpys_get_followers_lists_every_follower(sandbox):
    url, control, client = sandbox
    users = control.account(SAMPLE_APPID)["users"]
    following = [u["openid"] for u in users[1:]]
    assert list(client.user.iter_followers()) == following
    page = client.user.get_followers()
    assert (page["total"], page["count"], page["next_openid"]) == (2, 2, following[-1])
    rest = client.user.get_followers(following[-1])
    assert (rest["count"], rest["next_openid"]) == (0, "") and "data" not in rest


def test_user_info_shapes_and_errors(sandbox):
    url, control, client = sandbox
    users = control.account(SAMPLE_APPID)["users"]
    info = client.user.get(users[1]["openid"])
    assert info["subscribe"] == 1 and info["tagid_list"] == [2] and info["language"] == "zh_CN"
    assert client.user.get(users[0]["openid"]) == {"subscribe": 0, "openid": users[0]["openid"]}
    with pytest.raises(WeChatClientException) as raised:
        client.user.get("o" + "x" * 27)
    assert raised.value.errcode == 40003


def test_getcallbackip(sandbox):
    url, control, client = sandbox
    assert client.misc.get_wechat_ips() == ["127.0.0.1"]


@pytest.mark.parametrize("path", ["user/get", "user/info", "getcallbackip", "menu/get"])
def test_a_call_without_an_access_token_is_41001(sandbox, path):
    url, control, client = sandbox
    answer = requests.get(f"{url}/cgi-bin/{path}", timeout=10).json()
    assert answer["errcode"] == 41001
