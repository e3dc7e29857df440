"""Issue #11's hostile-input suite: thousands of hostile callbacks over real HTTP, none harmful.

One platform per message mode, each with a bound reviewer and a draft in review. The
callbacks are generated from a fixed seed (only the timestamps follow the clock): XML
bombs and DTDs, garbled AES, a wrong AppID, replays, mode mismatches and stripped
encryption, forged signatures, oversize bodies and query strings. They go to Qianfa's
server over keep-alive connections from a few threads. Every answer must be a 4xx with
the code its kind allows; afterwards nothing but the audit trail, the refusal counters
and the forged-callback alerts has changed, the audit chain verifies, and the refusals
audited stay within ``app.webhook.refusals``' cap.
"""

import base64
import logging
import random
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import requests

from app.core import audit, keys
from app.drafts import lifecycle
from app.web import create_app
from app.webhook import refusals
from sandbox.callbacks import Target, build_request
from sandbox.crypto import MessageCrypto, sign
from tests.factories import actor, snapshot
from tests.sandbox_helpers import SAMPLE_AES_KEY, SAMPLE_TOKEN
from tests.webhook_helpers import ORIGINAL_ID, active_platform, bind, render, serve, set_mode

SEED = 20240611
PER_KIND = 160  # x 14 kinds = 2240 callbacks
THREADS = 4
REVIEWER = "oReviewer0000000000000000001"
PLATFORMS = {  # platform id: (message mode, AppID)
    "plain-wx": ("plaintext", "wx00000000000000a1"),
    "compat-wx": ("compatible", "wx00000000000000b2"),
    "safe-wx": ("safe", "wx00000000000000c3"),
}
OTHER_APPID = "wx00000000000000ff"
OTHER_KEY = "Z" * 43
BOMB = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "{fill}"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{sender}</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&{entity};</Content></xml>"""
DTDS = (
    '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
    '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><xml/>',
    '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/wechat.dtd"><xml><MsgType>text</MsgType></xml>',
    "<!DOCTYPE xml [<!ELEMENT xml ANY>]><xml><MsgType>text</MsgType></xml>",
    '<!DOCTYPE xml [<!ENTITY big "{fill}">]><xml><Content>&big;&big;&big;</Content></xml>',
)


@dataclass(frozen=True)
class Hostile:
    kind: str
    platform: str
    params: dict
    body: bytes


@dataclass
class Forge:
    """Builds one kind of hostile callback after another from a seeded random source."""

    rng: random.Random
    replayable: dict  # platform id: (params, body) of a callback already accepted

    def nonce(self) -> str:
        return str(self.rng.randrange(10**9, 10**10))

    def words(self) -> str:
        return self.rng.choice(
            ["同意 D1", "驳回 D1 不行", "撤回 D1", "投稿 伪造", "绑定 K7M2-Q9XA"]
        )

    def fields(self, **extra) -> dict:
        return {
            "ToUserName": ORIGINAL_ID,
            "FromUserName": REVIEWER,
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": self.words(),
            "MsgId": self.rng.randrange(10**17, 10**18),
            **extra,
        }

    def pick(self, kind: str = "") -> str:
        return self.rng.choice(TARGETS.get(kind, list(PLATFORMS)))

    def request(self, pid: str, mode: str | None = None, **target) -> tuple[dict, bytes]:
        """A callback signed as WeChat would, in ``mode`` (the platform's by default)."""
        settings = {"appid": PLATFORMS[pid][1], "token": SAMPLE_TOKEN, "key": SAMPLE_AES_KEY}
        settings.update(target)
        mode = mode or PLATFORMS[pid][0]
        sender = Target(
            settings["appid"], ORIGINAL_ID, settings["token"], settings["key"], "", mode
        )
        params, body = build_request(sender, self.fields(), str(int(time.time())), self.nonce())
        return params, body.encode()

    def signed_query(self) -> dict:
        ts, nonce = str(int(time.time())), self.nonce()
        return {"signature": sign(SAMPLE_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}

    def encrypted_query(self, encrypt: str) -> dict:
        query = self.signed_query()
        ts, nonce = query["timestamp"], query["nonce"]
        return {
            **query,
            "encrypt_type": "aes",
            "msg_signature": sign(SAMPLE_TOKEN, ts, nonce, encrypt),
        }

    def sealed(self, pid: str, inner: bytes) -> tuple[dict, bytes]:
        """``inner`` encrypted for the platform with a valid ``msg_signature``: only AES is left."""
        query = self.signed_query()
        crypto = MessageCrypto.for_account(SAMPLE_TOKEN, SAMPLE_AES_KEY, PLATFORMS[pid][1])
        encrypt, msg_signature = crypto.seal(inner.decode(), query["timestamp"], query["nonce"])
        query.update(encrypt_type="aes", msg_signature=msg_signature)
        return query, render({"ToUserName": ORIGINAL_ID, "Encrypt": encrypt}).encode()

    # --- the kinds ------------------------------------------------------------------

    def xml_bomb(self, pid):
        fill = "lol" * self.rng.randrange(1, 50)
        bomb = BOMB.format(fill=fill, sender=REVIEWER, entity=self.rng.choice("abcd")).encode()
        if PLATFORMS[pid][0] == "plaintext" or self.rng.random() < 0.5:
            return self.signed_query(), bomb
        return self.sealed(pid, bomb)

    def dtd(self, pid):
        doc = self.rng.choice(DTDS).replace("{fill}", "x" * self.rng.randrange(1, 2000))
        return self.signed_query(), doc.encode()

    def deep_nesting(self, pid):
        tag = self.rng.choice(["a", "PublishEventInfo", "item"])
        depth = self.rng.randrange(100, 60_000 // (2 * len(tag) + 5))  # within the size limit
        body = "<xml>" + f"<{tag}>" * depth + f"</{tag}>" * depth + "</xml>"
        return self.signed_query(), body.encode()

    def garbled_aes(self, pid):
        _, body = self.request(pid, "safe")
        encrypt = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        raw = bytearray(base64.b64decode(encrypt))
        choice = self.rng.randrange(4)
        if choice == 0:
            raw[self.rng.randrange(len(raw))] ^= 1 << self.rng.randrange(8)
            encrypt = base64.b64encode(bytes(raw)).decode()
        elif choice == 1:
            encrypt = base64.b64encode(bytes(raw[: -self.rng.randrange(1, 31)])).decode()
        elif choice == 2:
            encrypt = "".join(self.rng.choice(string.printable) for _ in range(len(encrypt)))
        else:
            encrypt = base64.b64encode(self.rng.randbytes(len(raw))).decode()
        envelope = render({"ToUserName": ORIGINAL_ID, "Encrypt": encrypt}).encode()
        return self.encrypted_query(encrypt), envelope

    def wrong_key(self, pid):
        return self.request(pid, "safe", key=OTHER_KEY)

    def wrong_appid(self, pid):
        return self.request(pid, "safe", appid=OTHER_APPID)

    def replay(self, pid):
        params, body = self.replayable[pid]
        if self.rng.random() < 0.5:
            return params, body
        return params, render(self.fields()).encode()

    def mode_mismatch(self, pid):
        configured = PLATFORMS[pid][0]
        other = self.rng.choice([m for m, _ in PLATFORMS.values() if m != configured])
        return self.request(pid, other)

    def stripped(self, pid):
        params, body = self.request(pid, self.rng.choice(["safe", "compatible"]))
        query = {k: v for k, v in params.items() if k not in ("encrypt_type", "msg_signature")}
        return query, body if self.rng.random() < 0.5 else render(self.fields()).encode()

    def forged_signature(self, pid):
        params, body = self.request(pid)
        forged = self.rng.choice(
            [
                "".join(self.rng.choice("0123456789abcdef") for _ in range(40)),
                params["signature"].upper(),
                sign("forgedtoken", params["timestamp"], params["nonce"]),
                "",
            ]
        )
        return {**params, "signature": forged}, body

    def forged_msg_signature(self, pid):
        params, body = self.request(pid, "safe")
        return {**params, "msg_signature": "0" * 40}, body

    def oversize_body(self, pid):
        size = 65536 + self.rng.randrange(1, 200_000)
        return self.signed_query(), b"<xml><Content>" + b"A" * size + b"</Content></xml>"

    def oversize_query(self, pid):
        params, body = self.request(pid)
        filler = "".join(self.rng.choice(string.ascii_letters) for _ in range(64))
        size = self.rng.randrange(4_000, 60_000) // 64
        where = self.rng.choice(["nonce", "signature", "timestamp", "openid", "extra"])
        if where == "extra":
            return {**params, **{f"p{i}": filler for i in range(size // 2)}}, body
        return {**params, where: filler * size}, body


KINDS = {  # kind: the refusal codes it may get
    "xml_bomb": {"bad_xml"},
    "dtd": {"bad_xml"},
    "deep_nesting": {"bad_xml"},
    "garbled_aes": {"undecryptable", "bad_xml", "wrong_appid"},  # a flipped length moves the AppID
    "wrong_key": {"undecryptable", "bad_xml"},
    "wrong_appid": {"wrong_appid"},
    "replay": {"replayed_nonce", "mode_mismatch", "bad_msg_signature"},
    "mode_mismatch": {"mode_mismatch"},
    "stripped": {"mode_mismatch"},
    "forged_signature": {"bad_signature"},
    "forged_msg_signature": {"bad_msg_signature", "mode_mismatch"},
    "oversize_body": {"too_large"},
    "oversize_query": {"query_too_large"},
}


# Stripping the encryption is an attack on a platform whose callbacks come encrypted.
TARGETS = {"stripped": ["compat-wx", "safe-wx"]}


def generate(rng: random.Random, replayable: dict) -> list[Hostile]:
    forge = Forge(rng, replayable)
    cases = []
    for kind in KINDS:
        for _ in range(PER_KIND):
            pid = forge.pick(kind)
            params, body = getattr(forge, kind)(pid)
            cases.append(Hostile(kind, pid, params, body))
    for _ in range(PER_KIND):
        params, body = forge.request(forge.pick())
        cases.append(
            Hostile("unknown_platform", rng.choice(["no-such", "x", "A" * 40]), params, body)
        )
    rng.shuffle(cases)
    return cases


@pytest.fixture
def service(r, settings):
    """The platforms, Qianfa serving them, and one callback per platform it accepted."""
    for pid, (mode, appid) in PLATFORMS.items():
        people = active_platform(r, settings, pid=pid, appid=appid)
        bind(r, pid, REVIEWER, people["responsible"])
        author = actor(people["admin"])
        draft = lifecycle.create(r, author, pid, "text", {"text": "计算机学院举办程序设计竞赛"})
        lifecycle.submit(r, author, draft.id)
        set_mode(r, mode, pid=pid)
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)  # 2,000 lines, some 60 kB long, help no one
    with serve(create_app(settings)) as base:
        forge, accepted = Forge(random.Random(SEED), {}), {}
        for pid in PLATFORMS:
            params, body = forge.request(pid)
            response = requests.post(f"{base}/wechat/{pid}", params=params, data=body)
            assert response.status_code == 200, response.text
            accepted[pid] = (params, body)
        yield base, accepted
    access_log.setLevel(level)


def guarded(r) -> dict:
    """Every key but the audit trail, the refusal counters and the alerts with their cases."""
    alerting = (keys.alerts(), keys.alerts_open(), keys.alert_case(""), keys.sequence("alert"))
    skipped = (b"qianfa:audit", *(key.encode() for key in alerting))
    security = (b":refusals", b":refused:", b":forged:")
    return {
        key: value
        for key, value in snapshot(r).items()
        if not key.startswith(skipped) and not any(part in key for part in security)
    }


def send_all(base: str, cases: list[Hostile]) -> list[tuple[Hostile, int | None, str]]:
    """Send the cases from a few threads, each over one keep-alive session."""
    answers: list = []

    def send(share: list[Hostile]) -> None:
        with requests.Session() as session:
            for case in share:
                url = f"{base}/wechat/{case.platform}"
                try:
                    response = session.post(url, params=case.params, data=case.body, timeout=30)
                    answers.append((case, response.status_code, response.text[:40]))
                except requests.RequestException as exc:
                    answers.append((case, None, type(exc).__name__))

    threads = [threading.Thread(target=send, args=(cases[i::THREADS],)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def audit_cap(settings, started: float, ended: float) -> int:
    """``refusals``' bound: per bucket and window, the first N refusals and one summary."""
    window = settings.webhook_refusal_window
    windows = int(ended) // window - int(started) // window + 1
    buckets = len(PLATFORMS) + 1  # and ``_unknown``
    return buckets * windows * (settings.webhook_audit_refusals + 1)


def test_thousands_of_hostile_callbacks_get_4xx_and_change_nothing(r, settings, service):
    """2,240 hostile callbacks in three modes: all 4xx as their kind expects, nothing changed."""
    base, accepted = service
    cases = generate(random.Random(SEED), accepted)
    assert len(cases) >= 2000
    before, audited_before = guarded(r), len(list(audit.records(r)))
    started = time.time()
    answers = send_all(base, cases)
    ended = time.time()
    assert len(answers) == len(cases)
    wrong = Counter(
        (case.kind, status, text)
        for case, status, text in answers
        if status is None or not 400 <= status < 500 or text not in expected(case.kind)
    )
    assert not wrong, wrong.most_common(10)
    assert guarded(r) == before
    assert audit.verify(r).ok
    written = list(audit.records(r))[audited_before:]
    actions = Counter(rec["action"] for rec in written)
    assert set(actions) <= {"webhook.refused", "webhook.refusals_unrecorded"}, actions
    assert len(written) <= audit_cap(settings, started, ended)
    counted = sum(sum(refusals.counts(r, bucket).values()) for bucket in PLATFORMS)
    counted += sum(refusals.counts(r, refusals.UNKNOWN).values())
    assert counted == len(cases)


def expected(kind: str) -> set[str]:
    return KINDS.get(kind, {"unknown_platform"})
