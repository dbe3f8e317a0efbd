"""Proxies: which one (the environment, read as curl does) and the tunnel through it.

A WebSocket goes through a proxy as a browser's does: HTTP ``CONNECT`` to
an ``http://`` or ``https://`` proxy (RFC 9110 §9.3.6), or a SOCKS
``CONNECT`` (SOCKS5, RFC 1928 with RFC 1929 user/password; SOCKS4).
The tunnel is a plain byte stream to the target; TLS to a ``wss:`` target
runs inside it with the usual verification of the target's certificate.

SOCKS is written here rather than taken from a library: the client side of
a CONNECT is a few fixed messages, and doing it on our own stream keeps the
engine's fast TCP path, its timeouts and its failure reports unchanged.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import trio

from w3cws._engine.handshake import HandshakeFailed, Stream, basic_credentials, parse_response_head
from w3cws._url import is_localhost

__all__ = [
    "FROM_ENVIRONMENT",
    "Proxy",
    "ProxyError",
    "Stream",
    "bypasses",
    "open_tunnel",
    "parse_proxy",
    "proxy_for",
]

# The ``proxy=`` default: look the proxy up in the environment.
FROM_ENVIRONMENT = True

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks5": 1080, "socks5h": 1080}
# The answer to CONNECT: bounded like a handshake response head.
_MAX_HEAD = 64 * 1024


class ProxyError(Exception):
    """The proxy could not be reached, refused the tunnel, or broke it."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """A parsed proxy URL.

    Attributes:
        scheme: ``http``, ``https``, ``socks4``, ``socks5`` or ``socks5h``
            (the proxy resolves the target's name).
        host: the proxy's host (an IPv6 address without brackets).
        port: the proxy's port.
        username: for ``Proxy-Authorization: Basic`` or SOCKS5 user/password.
        password: as ``username``.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        """The URL without its credentials, for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """Parse a proxy URL; no scheme means ``http`` (as curl reads it).

    Raises:
        ValueError: an unknown scheme, no host, or a bad port.
    """
    if not isinstance(url, str):
        raise TypeError(f"proxy must be a str URL, None or True, not {type(url).__name__}")
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(
            f"proxy {url!r} has an unsupported scheme {scheme!r}; use http, https, "
            "socks4, socks5 or socks5h"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"proxy {url!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"proxy {url!r} has no host; write it as scheme://host:port")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Proxy(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], username, password)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, the lower-case name first (as curl), empty as unset."""
    for key in (name, name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return value
    return None


def proxy_for(
    host: str, port: int, *, secure: bool, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy the environment names for a ``ws:`` or ``wss:`` target, or None.

    ``wss`` reads ``https_proxy``, ``ws`` reads ``http_proxy``, either falls
    back to ``all_proxy``; ``no_proxy`` lists the hosts to reach directly.
    As in Chromium, loopback hosts (``localhost``, ``*.localhost``,
    ``127.0.0.0/8``, ``::1``) are always reached directly, unless
    ``no_proxy`` holds Chromium's ``<-loopback>``.

    Raises:
        ValueError: the variable holds a URL that is not a usable proxy.
    """
    env = os.environ if environ is None else environ
    value = _env(env, "https_proxy" if secure else "http_proxy") or _env(env, "all_proxy")
    if value is None:
        return None
    no_proxy = _env(env, "no_proxy") or ""
    if _LOOPBACK_RULE not in no_proxy.lower().replace(",", " ").split() and is_loopback(host):
        return None
    if bypasses(host, port, no_proxy):
        return None
    return parse_proxy(value)


# Chromium's bypass rule that takes away the implicit loopback bypass.
_LOOPBACK_RULE = "<-loopback>"


def is_loopback(host: str) -> bool:
    """``localhost``, a name under ``.localhost``, or a loopback IP address."""
    if is_localhost(host):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bypasses(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` names ``host:port``.

    Entries are separated by commas or spaces: ``*`` (every host), a domain
    (itself and its subdomains; a leading ``.`` or ``*.`` changes nothing),
    an IP address, a CIDR block, each optionally with ``:port``
    (IPv6 in brackets then).
    """
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.replace(",", " ").split():
        entry = raw.lower()
        if entry == _LOOPBACK_RULE:
            continue
        if entry == "*":
            return True
        entry, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.removeprefix("*").lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` or ``[v6]:port`` into its parts; a bare IPv6 keeps its colons."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


# -- tunnels ---------------------------------------------------------------


async def _receive_exactly(stream: Stream, proxy: Proxy, size: int, what: str) -> bytes:
    """Exactly ``size`` bytes, reading no further (the tunnel's data follows).

    Raises:
        ProxyError: the proxy closed the connection first.
    """
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        if not chunk:
            raise ProxyError(f"proxy {proxy} closed the connection during {what}")
        data += chunk
    return data


async def http_connect(stream: Stream, proxy: Proxy, host: str, port: int) -> None:
    """Ask an HTTP proxy for a tunnel to ``host:port`` (RFC 9110 §9.3.6).

    Raises:
        ProxyError: the proxy answered with anything but 2xx, or closed.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    request = "\r\n".join(lines).encode("ascii")
    if proxy.username is not None:
        credentials = basic_credentials(proxy.username, proxy.password or "")
        request += b"\r\nProxy-Authorization: " + credentials
    await stream.send_all(request + b"\r\n\r\n")
    # Byte by byte up to the empty line: the proxy sends nothing after its
    # answer until we speak, but whatever it did send belongs to the tunnel.
    head = b""
    while not head.endswith((b"\r\n\r\n", b"\n\n")):
        chunk = await stream.receive_some(1)
        if not chunk:
            raise ProxyError(f"proxy {proxy} closed the connection before answering CONNECT")
        head += chunk
        if len(head) > _MAX_HEAD:
            raise ProxyError(f"proxy {proxy} sent an answer to CONNECT over {_MAX_HEAD} bytes")
    try:
        status, _ = parse_response_head(head.rstrip(b"\r\n") + b"\r\n")
    except HandshakeFailed as exc:
        raise ProxyError(f"proxy {proxy} answered CONNECT with {exc}") from None
    if status == 407:
        given = "refused the credentials" if proxy.username else "requires authentication"
        raise ProxyError(f"proxy {proxy} {given} (HTTP 407)")
    if not 200 <= status < 300:
        raise ProxyError(f"proxy {proxy} refused the tunnel to {authority} (HTTP {status})")


_SOCKS5_ERRORS = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


async def _resolve(host: str, port: int, family: int = 0) -> str:
    """The first address of ``host`` (SOCKS4 and ``socks5`` resolve locally).

    Raises:
        OSError: DNS failure (``socket.gaierror``).
    """
    infos = await trio.socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return str(infos[0][4][0])


async def socks5_connect(stream: Stream, proxy: Proxy, host: str, port: int) -> None:
    """A SOCKS5 CONNECT (RFC 1928 §3-6), with user/password (RFC 1929) if given.

    Raises:
        ProxyError: the proxy refused, asked for a method we lack, or closed.
        OSError: ``socks5`` could not resolve the target's name here.
    """
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    await stream.send_all(b"\x05" + bytes([len(methods)]) + methods)
    version, method = await _receive_exactly(stream, proxy, 2, "the SOCKS5 greeting")
    if version != 5:
        raise ProxyError(f"proxy {proxy} does not speak SOCKS5")
    if method == 2 and proxy.username is not None:
        user = proxy.username.encode()
        password = (proxy.password or "").encode()
        if len(user) > 255 or len(password) > 255:
            raise ProxyError("SOCKS5 user names and passwords are at most 255 bytes")
        await stream.send_all(
            b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password
        )
        _, status = await _receive_exactly(stream, proxy, 2, "SOCKS5 authentication")
        if status != 0:
            raise ProxyError(f"proxy {proxy} refused the credentials (SOCKS5)")
    elif method != 0:
        needs = "requires authentication" if method != 0xFF else "accepts none of our methods"
        raise ProxyError(f"proxy {proxy} {needs} (SOCKS5 method {method})")
    target = host
    if proxy.scheme == "socks5":
        target = await _resolve(host, port)
    try:
        address = ipaddress.ip_address(target)
        atyp = b"\x01" if address.version == 4 else b"\x04"
        encoded = atyp + address.packed
    except ValueError:
        name = target.encode("idna")
        encoded = b"\x03" + bytes([len(name)]) + name
    await stream.send_all(b"\x05\x01\x00" + encoded + port.to_bytes(2, "big"))
    _, reply, _, kind = await _receive_exactly(stream, proxy, 4, "the SOCKS5 CONNECT")
    if reply != 0:
        why = _SOCKS5_ERRORS.get(reply, f"error {reply}")
        raise ProxyError(f"proxy {proxy} could not connect to {host}:{port}: {why} (SOCKS5)")
    # The bound address and port, which a client does not need.
    if kind == 3:
        (length,) = await _receive_exactly(stream, proxy, 1, "the SOCKS5 CONNECT")
        rest = length + 2
    else:
        rest = (4 if kind == 1 else 16) + 2
    await _receive_exactly(stream, proxy, rest, "the SOCKS5 CONNECT")


async def socks4_connect(stream: Stream, proxy: Proxy, host: str, port: int) -> None:
    """A SOCKS4 CONNECT to the target's IPv4 address, resolved here.

    Raises:
        ProxyError: the proxy refused or closed.
        OSError: the target's name did not resolve to an IPv4 address.
    """
    user = (proxy.username or "").encode() + b"\x00"
    address = ipaddress.IPv4Address(await _resolve(host, port, socket.AF_INET)).packed
    await stream.send_all(b"\x04\x01" + port.to_bytes(2, "big") + address + user)
    reply = await _receive_exactly(stream, proxy, 8, "the SOCKS4 CONNECT")
    if reply[1] != 0x5A:
        raise ProxyError(f"proxy {proxy} refused the connection to {host}:{port} (SOCKS4)")


async def open_tunnel(stream: Stream, proxy: Proxy, host: str, port: int) -> None:
    """Turn ``stream``, connected to the proxy, into a tunnel to ``host:port``.

    Raises:
        ProxyError: the proxy refused, asked for credentials, or closed.
        OSError: a name to resolve here (``socks4``, ``socks5``) did not resolve.
    """
    if proxy.scheme in ("http", "https"):
        await http_connect(stream, proxy, host, port)
    elif proxy.scheme.startswith("socks5"):
        await socks5_connect(stream, proxy, host, port)
    else:
        await socks4_connect(stream, proxy, host, port)
