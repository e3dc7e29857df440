"""The server-URL check WeChat's console runs when a developer saves the URL and Token.

WeChat sends a GET with ``signature, timestamp, nonce, echostr`` and expects ``echostr``
back verbatim, in every encryption mode (official accounts do not encrypt it).
"""

import secrets
import time

import requests

from sandbox.crypto import sign


def check_server(server_url: str, token: str, timeout: float = 5.0) -> dict:
    """GET the server URL as WeChat does; report whether it echoed correctly."""
    if not server_url:
        return {"ok": False, "problem": "账号未配置服务器地址(server_url)"}
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(9 * 10**9) + 10**9)
    echostr = str(secrets.randbelow(9 * 10**18) + 10**18)
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp}
    params.update(nonce=nonce, echostr=echostr)
    with requests.Session() as session:
        session.trust_env = False
        try:
            response = session.get(server_url, params=params, timeout=timeout)
        except requests.RequestException as exc:
            return {"ok": False, "problem": f"请求失败:{type(exc).__name__}"}
    if response.status_code == 200 and response.text == echostr:
        return {"ok": True, "problem": ""}
    return {"ok": False, "problem": f"服务器没有原样返回 echostr(HTTP {response.status_code})"}
