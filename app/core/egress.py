"""The egress guard: every request to a URL that people supply goes out through here.

An image URL, a forward address (later a feed or a published page) names a host that
someone else chose, so its name is resolved once, every address it resolves to must be
on the public internet, and the connection goes to exactly the address checked: a second
DNS answer (rebinding) cannot move it to loopback. Host header, TLS SNI and certificate
checks keep the host name. Redirects are followed by hand, each hop checked the same way.
``QIANFA_FETCH_ALLOW`` lets named hosts, ``host:port`` pairs or networks through (the
sandbox, tests); nothing else is let through by default.
"""

import ipaddress
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from app.core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
# ipaddress's own classification, in the order a reason is given.
REFUSED_KINDS = (
    ("is_unspecified", "未指定地址"),
    ("is_loopback", "本机地址"),
    ("is_link_local", "链路本地地址"),
    ("is_multicast", "组播地址"),
    ("is_private", "内网地址"),
    ("is_reserved", "保留地址"),
    ("is_site_local", "站点本地地址"),
)
# Ranges that are not public but that ipaddress does not (in every Python) say so of.
REFUSED_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "未指定地址"),
        ("100.64.0.0/10", "运营商级 NAT 地址"),
        ("192.0.0.0/24", "保留地址"),
        ("198.18.0.0/15", "测试网络地址"),
        ("255.255.255.255/32", "广播地址"),
        ("64:ff9b:1::/48", "NAT64 本地地址"),
        ("2001::/32", "Teredo 隧道地址"),
        ("fc00::/7", "内网地址"),
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class Refused(InvalidInput):
    """The URL may not be requested: its scheme, its form, or where its host points."""

    code = "url_refused"


class Unresolved(InvalidInput):
    """The URL's host name does not resolve (now); trying later may help."""

    code = "url_unresolved"


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it goes."""
    if address.version == 4:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why the address is not on the public internet, or None when it is."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return refusal(inner)
    for prop, reason in REFUSED_KINDS:
        if getattr(address, prop, False):
            return reason
    for network, reason in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    return None


@dataclass(frozen=True)
class Allow:
    """Hosts (by name), addresses and networks let through the guard, each on one port or all."""

    hosts: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[IPNetwork, int | None], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Allow":
        """Comma-separated ``host``, ``host:port``, ``IP``, ``IP:port``, ``[IPv6]:port`` or CIDR."""
        hosts, networks = set(), []
        for entry in (part.strip() for part in (text or "").split(",")):
            if not entry:
                continue
            host, port = _split_entry(entry)
            try:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                hosts.add((_ascii_host(host, entry), port))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, address: IPAddress, port: int) -> bool:
        if {(host, None), (host, port)} & self.hosts:
            return True
        address = embedded_ipv4(address) or address
        return any(
            address.version == net.version and address in net and allowed in (None, port)
            for net, allowed in self.networks
        )


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``host:port`` apart; a bare IPv6 address or a CIDR has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, _port(rest.removeprefix(":"), entry) if rest else None
    if "/" in entry or entry.count(":") > 1:
        return entry, None
    host, sep, port = entry.partition(":")
    return host, _port(port, entry) if sep else None


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"端口不对:{entry[:60]!r}")
    return int(text)


def _ascii_host(host: str, shown: str) -> str:
    """The host name in ASCII (IDNA), as DNS, the Host header and TLS see it."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.lower().rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    if not HOST_NAME.fullmatch(ascii_host):
        raise ValueError(f"主机名不对:{shown[:60]!r}")
    return ascii_host


@dataclass(frozen=True)
class Target:
    """A URL checked: where the request goes (``address``) and what it names (``host``)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if DEFAULT_PORTS[self.scheme] == self.port else f"{name}:{self.port}"


def check(url: str, allow: Allow) -> Target:
    """Resolve the URL's host once and refuse it unless every address is public or allowed."""
    scheme, host, port, path = _parts(url)
    addresses = resolve(host, port)
    for address in addresses:
        if allow.admits(host, address, port):
            continue
        reason = refusal(address)
        if reason:
            raise Refused(f"不允许访问{reason}({address}):{short(url)}")
    return Target(url, scheme, host, port, addresses[0], path)


def _parts(url: str) -> tuple[str, str, int, str]:
    """Scheme, ASCII host, port and path+query of an http(s) URL without credentials."""
    try:
        split = urlsplit(url.strip())
        port = split.port
    except ValueError:
        raise Refused(f"网址格式不对:{short(url)}") from None
    scheme = split.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise Refused(f"只能访问 http:// 或 https:// 网址:{short(url)}")
    if split.username is not None or split.password is not None:
        raise Refused(f"网址不能包含用户名或密码:{short(url)}")
    try:
        host = _ascii_host(split.hostname or "", url)
    except ValueError:
        raise Refused(f"网址缺少有效的主机名:{short(url)}") from None
    path = (split.path or "/") + (f"?{split.query}" if split.query else "")
    return scheme, host, port or DEFAULT_PORTS[scheme], path


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to; numeric forms (``2130706433``) resolve too."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolved(f"无法解析主机名:{host[:80]}") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolved(f"无法解析主机名:{host[:80]}")
    return addresses


def short(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


class _PinnedAdapter(HTTPAdapter):
    """Connect to the address in the request's URL while TLS names and verifies ``egress_host``."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            # Without the name, SNI and the certificate check would use the bare address
            # and fail: never fall back to not checking.
            name = getattr(request, "egress_host", None) or host_params["host"]
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


class Client:
    """A requests session that only ever connects to checked addresses; reuse it for keep-alive."""

    def __init__(self, allow: Allow):
        self.allow = allow
        self.session = requests.Session()
        self.session.trust_env = False  # a proxy from the environment would connect unchecked
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = _PinnedAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send(self, method: str, url: str, *, timeout, **kwargs) -> requests.Response:
        """One request to the URL's checked address, streamed, redirects not followed."""
        target = check(url, self.allow)
        headers = {**kwargs.pop("headers", {}), "Host": target.host_header}
        request = requests.Request(method, target.pinned_url, headers=headers, **kwargs)
        prepared = self.session.prepare_request(request)
        prepared.egress_host = target.host
        return self.session.send(prepared, stream=True, timeout=timeout, allow_redirects=False)

    @contextmanager
    def get(self, url: str, *, timeout) -> Iterator[requests.Response]:
        """GET the URL, following at most ``MAX_REDIRECTS`` redirects, each hop checked."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.send("GET", url, timeout=timeout)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                with response:
                    yield response
                return
            response.close()
            url = urljoin(url, location)
        raise Refused(f"重定向超过 {MAX_REDIRECTS} 次:{short(url)}")
