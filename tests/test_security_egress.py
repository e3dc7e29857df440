"""Issue #11, holes 3 and 6: SSRF through image and forward URLs, and hostile uploads.

Each attack is made for real: URLs are fetched over HTTP, the target is a real little
server on loopback that records every request it gets, and drafts and uploads go through
a running Qianfa. The tests allow only what they name (``QIANFA_FETCH_ALLOW``), never the
whole of 127.0.0.1 that the other tests allow.
"""

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from click.testing import CliRunner

from app.channels import apitokens
from app.cli.base import cli
from app.core import egress, keys
from app.core.settings import get_settings, load_settings
from app.drafts import images, lifecycle, review
from app.publishing import record as pubs
from app.publishing import schedule
from app.web import create_app
from app.webhook import config as webhook_config
from app.webhook.forward import SUCCESS, Forwarder
from tests.factories import OPERATOR, actor
from tests.images import FAKE_PNG, png
from tests.publishing_helpers import COVER, publish_settings, wechat_world
from tests.sandbox_helpers import running_sandbox
from tests.webhook_helpers import PLATFORM, serve
from tests.wechat_helpers import APPID, SECRET


class Target:
    """A real HTTP server on loopback that records each request; ``redirects`` send elsewhere."""

    def __init__(self, body: bytes = COVER, redirects: dict[str, str] | None = None):
        self.body, self.redirects, self.hits = body, redirects or {}, []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/cover.png") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handler(self):
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                target.hits.append((self.command, self.path))
                location = target.redirects.get(self.path)
                self.send_response(302 if location else 200)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0" if location else str(len(target.body)))
                self.end_headers()
                if not location:
                    self.wfile.write(target.body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> "Target":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    with Target() as server:
        yield server


@pytest.fixture
def allow(monkeypatch):
    """Set ``QIANFA_FETCH_ALLOW`` for this process and its settings; returns the settings."""

    def narrow(value: str = ""):
        monkeypatch.setenv("QIANFA_FETCH_ALLOW", value)
        get_settings.cache_clear()
        return load_settings()

    yield narrow
    get_settings.cache_clear()


def refused_fetch(url: str, allowed: egress.Allow) -> images.ImageUnavailable:
    with pytest.raises(images.ImageUnavailable) as refused:
        images.fetch(url, allowed)
    return refused.value


# --- the addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2400:3200::1", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_only_public_addresses_pass(address, public):
    """Loopback, private, link-local, CGNAT, multicast, reserved and embedded forms are refused."""
    assert (egress.refusal(ipaddress.ip_address(address)) is None) == public


@pytest.mark.parametrize(
    ("entry", "host", "address", "port", "admitted"),
    [
        ("127.0.0.1:8100", "127.0.0.1", "127.0.0.1", 8100, True),
        ("127.0.0.1:8100", "127.0.0.1", "127.0.0.1", 6379, False),
        ("127.0.0.1", "2130706433", "127.0.0.1", 6379, True),
        ("10.0.0.0/8", "cms.campus", "10.9.8.7", 443, True),
        ("cms.campus", "cms.campus", "10.9.8.7", 80, True),
        ("cms.campus:8080", "cms.campus", "10.9.8.7", 80, False),
        ("[::1]:8100", "::1", "::1", 8100, True),
        ("", "127.0.0.1", "127.0.0.1", 80, False),
    ],
)
def test_allow_list_entries(entry, host, address, port, admitted):
    """Entries name a host, a host and port, an address or a network; nothing else passes."""
    parsed = egress.Allow.parse(entry)
    assert parsed.admits(host, ipaddress.ip_address(address), port) == admitted


@pytest.mark.parametrize("value", ["127.0.0.1:99999", "host:http", "a..b", "10.0.0.0/33:1"])
def test_malformed_allow_list_stops_start_up(value):
    """A bad ``QIANFA_FETCH_ALLOW`` stops start-up with one line naming it."""
    from app.core.errors import ConfigError

    with pytest.raises(ConfigError, match="QIANFA_FETCH_ALLOW"):
        load_settings({"QIANFA_FETCH_ALLOW": value})


# --- image URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        "http://127.0.0.1:{port}/cover.png",
        "http://localhost:{port}/cover.png",
        "http://2130706433:{port}/cover.png",
        "http://0x7f.0.0.1:{port}/cover.png",
        "http://0177.0.0.1:{port}/cover.png",
        "http://127.1:{port}/cover.png",
        "http://[::1]:{port}/cover.png",
        "http://[::ffff:127.0.0.1]:{port}/cover.png",
        "http://[::ffff:7f00:1]:{port}/cover.png",
    ],
)
def test_image_url_on_loopback_in_any_form_is_refused_uncontacted(target, allow, form):
    """Loopback written as a name, a decimal, octal or hex number, IPv6 or IPv4-mapped: refused."""
    refused = refused_fetch(form.format(port=target.port), allow("").fetch_allow)
    assert not refused.retryable and "不允许访问" in refused.message
    assert target.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/cover.png",
        "http://192.168.1.1/cover.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/cover.png",
        "http://0.0.0.0/cover.png",
        "http://[fd00::1]/cover.png",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_image_url_in_a_private_range_is_refused_at_once(allow, url):
    """Private, link-local (cloud metadata), CGNAT and unspecified addresses are never dialled."""
    refused = refused_fetch(url, allow("").fetch_allow)
    assert not refused.retryable and "不允许访问" in refused.message


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/a.png", "http://user:pw@8.8.8.8/a.png"])
def test_image_url_of_another_scheme_or_with_credentials_is_refused(url):
    """Only plain http(s) URLs are fetched."""
    assert not refused_fetch(url, egress.Allow()).retryable


def test_allowed_server_redirecting_to_loopback_is_refused(target, allow):
    """An allowed server's redirect to another loopback port is checked and refused."""
    hops = {"/a": target.url(), "/b": f"http://2130706433:{target.port}/cover.png"}
    with Target(redirects=hops) as middle:
        settings = allow(f"127.0.0.1:{middle.port}")
        for path in hops:
            refused = refused_fetch(middle.url(path), settings.fetch_allow)
            assert "本机地址" in refused.message
        assert [path for _, path in middle.hits] == ["/a", "/b"]
    assert target.hits == []


def test_more_than_three_redirects_are_refused(allow):
    """A chain of redirects longer than three is not followed to its end."""
    chain = {"/r1": "/r2", "/r2": "/r3", "/r3": "/r4", "/r4": "/cover.png"}
    with Target(redirects=chain) as server:
        settings = allow(f"127.0.0.1:{server.port}")
        assert "重定向" in refused_fetch(server.url("/r1"), settings.fetch_allow).message
        assert ("GET", "/cover.png") not in server.hits
        data, kind = images.fetch(server.url("/r2"), settings.fetch_allow)
    assert data == COVER and kind == "image/png"


def test_allowed_server_must_send_a_whole_image(allow):
    """Bytes that start like a PNG but do not decode as one are refused."""
    with Target(body=FAKE_PNG) as server:
        settings = allow(f"127.0.0.1:{server.port}")
        refused = refused_fetch(server.url(), settings.fetch_allow)
    assert not refused.retryable and "无法解码" in refused.message


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        control.add_user(APPID, nickname="读者甲")
        yield url, control


def test_draft_with_cover_on_loopback_is_never_fetched(r, sandbox, target, allow):
    """A draft sent to the running API with its cover and an inline image on loopback is
    approved, then fails to publish with the reason; the loopback server is never contacted."""
    allow("")
    pset = publish_settings(sandbox[0])
    w = wechat_world(r, pset)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    body = f'<p>见图</p><p><img src="{target.url("/inline.png")}"></p>'
    content = {"title": "运动会", "content_html": body, "cover_image": target.url()}
    with serve(create_app(pset)) as base:
        created = requests.post(
            f"{base}/api/v1/drafts",
            json={"platform": w.platform, "kind": "article", "content": content},
            headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k1"},
            timeout=10,
        )
    assert created.status_code == 201, created.text
    draft = lifecycle.get(r, created.json()["id"])
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    schedule.schedule(r, draft.id, settings=pset)
    assert schedule.run(r, draft.id, draft.version, settings=pset) == pubs.FAILED
    assert "本机地址" in lifecycle.get(r, draft.id).status_reason
    assert target.hits == []


# --- forward URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["http://127.0.0.1:{port}/wx", "http://2130706433:{port}/wx", "http://[::1]:{port}/"]
)
def test_forward_url_to_loopback_is_refused_when_configured(r, staff, target, allow, form):
    """`qianfa webhook set --forward-url` to loopback fails with one line and changes nothing."""
    allow("")
    url = form.format(port=target.port)
    result = CliRunner().invoke(cli, ["webhook", "set", PLATFORM, "--forward-url", url])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "本机地址" in result.output
    assert webhook_config.get(r, PLATFORM).forward_url == ""
    assert target.hits == []


def test_forward_to_loopback_is_refused_at_each_callback(target):
    """A forward URL that points at loopback by the time a callback comes is not contacted."""
    forwarder = Forwarder(1.0, 65536, egress.Allow())
    args = {"timestamp": "1", "nonce": "2", "openid": "o"}
    assert forwarder.forward(target.url("/wx"), "token", args, b"<xml/>", None) == SUCCESS
    assert target.hits == []
    allowed = Forwarder(1.0, 65536, egress.Allow.parse(f"127.0.0.1:{target.port}"))
    allowed.forward(target.url("/wx"), "token", args, b"<xml/>", None)
    assert [(method, path.split("?")[0]) for method, path in target.hits] == [("POST", "/wx")]


# --- uploads ---------------------------------------------------------------------------


@pytest.fixture
def running_api(r, allow, monkeypatch):
    """Qianfa serving the API on a free port, with a quota of two unused uploads."""
    monkeypatch.setenv("QIANFA_UPLOAD_QUOTA_COUNT", "2")
    settings = allow("")
    w = wechat_world(r, settings)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    with serve(create_app(settings)) as base:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {secret}"
        yield base, session, w


def upload(running_api, data: bytes, content_type: str = "image/png") -> requests.Response:
    base, session, _ = running_api
    files = {"file": ("cover.png", data, content_type)}
    return session.post(f"{base}/api/v1/uploads", files=files, timeout=10)


def test_upload_of_random_bytes_behind_a_png_header_is_refused(r, running_api):
    """A PNG signature and header with noise after them is not an image: 415, nothing kept."""
    response = upload(running_api, FAKE_PNG)
    assert response.status_code == 415
    answer = response.json()
    assert answer["error"] == "unsupported_type" and answer["field"] == "file"
    assert "无法解码" in answer["message"]
    assert r.keys(keys.upload("*")) == []


def test_upload_over_the_quota_is_refused_until_a_draft_uses_one(r, running_api):
    """A person's third unused upload is refused (413); using one in a draft frees its place."""
    first, second = (upload(running_api, png(n)).json() for n in (1, 2))
    third = upload(running_api, png(3))
    assert third.status_code == 413 and third.json()["error"] == "upload_quota"
    assert len(r.keys(keys.upload("*"))) == 2
    base, session, w = running_api
    content = {"title": "运动会", "content_html": "<p>开幕</p>", "cover_image": first["ref"]}
    created = session.post(
        f"{base}/api/v1/drafts",
        json={"platform": w.platform, "kind": "article", "content": content, "submit": False},
        headers={"Idempotency-Key": "k1"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert r.ttl(keys.upload(first["sha256"])) == -1
    assert r.ttl(keys.upload(second["sha256"])) > 0
    assert upload(running_api, png(3)).status_code == 201


# --- TLS to the pinned address ----------------------------------------------------------


def self_signed(directory, name: str) -> tuple[str, str]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_https_to_the_pinned_address_keeps_the_host_name_for_sni_and_certificate(
    tmp_path, monkeypatch
):
    """The connection goes to the checked address; SNI, Host and the certificate check use
    the name, so a certificate for another name (or for none, by address) is refused."""
    import socket
    import ssl

    name = "images.campus.test"
    cert, key = self_signed(tmp_path, name)
    seen = {}
    with Target(body=b"ok") as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, sni, ctx: seen.update(sni=sni)
        server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
        resolve = socket.getaddrinfo
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: resolve("127.0.0.1" if host == name else host, *a, **k),
        )
        client = egress.Client(egress.Allow.parse(f"127.0.0.1:{server.port}"))
        client.session.verify = cert
        with client.get(f"https://{name}:{server.port}/x.png", timeout=5) as response:
            assert response.content == b"ok"
        assert seen["sni"] == name
        with pytest.raises(requests.exceptions.SSLError):
            client.send("GET", f"https://127.0.0.1:{server.port}/x.png", timeout=5)


def test_qianfa_run_allows_exactly_its_sandbox():
    """`qianfa run` lets fetches reach its sandbox's port on loopback and nothing more."""
    from app.cli.runner import sandbox_allowed

    settings = load_settings({"QIANFA_SANDBOX_PORT": "8123"})
    assert sandbox_allowed({}, settings) == "127.0.0.1:8123"
    given = {"QIANFA_FETCH_ALLOW": "cms.campus,"}
    allowed = egress.Allow.parse(sandbox_allowed(given, settings))
    loopback = ipaddress.ip_address("127.0.0.1")
    assert allowed.admits("127.0.0.1", loopback, 8123)
    assert not allowed.admits("127.0.0.1", loopback, 6379)
    assert allowed.admits("cms.campus", ipaddress.ip_address("10.0.0.5"), 443)
