"""wss: certificate verification is on by default, and a bad certificate fails.

A bad certificate must never connect silently: the script sees ``error`` then
``close`` 1006, and the server never receives the HTTP request. Certificates
come from ``trustme``; everything stays on loopback.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field

import pytest
import trio
import trustme

from w3cws import WebSocket

from ..websocket.conftest import frame, raw_server, trace
from .hostile import Fin, Hostile, check_story

FAIL = [("error", 3), ("close", 3, 1006, "", False)]


@dataclass
class TLSServer:
    """Terminates TLS with ``context``, records the SNI, then plays ``Hostile``."""

    context: ssl.SSLContext
    then: Hostile = field(default_factory=lambda: Hostile(steps=[frame(0x8, b"\x03\xe8")]))
    server_names: list[str | None] = field(default_factory=list)
    handshakes: int = 0

    def __post_init__(self) -> None:
        def record(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
            self.server_names.append(name)

        self.context.sni_callback = record  # type: ignore[assignment]

    async def __call__(self, stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, self.context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(tls)
            return
        self.handshakes += 1
        await self.then(tls)  # type: ignore[arg-type]


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def connect(server: TLSServer, host: str = "127.0.0.1", **kwargs: object) -> list[object]:
    async with raw_server(server) as url:
        port = url.rsplit(":", 1)[1]
        ws = WebSocket(f"wss://{host}:{port}/", **kwargs)  # type: ignore[arg-type]
        t = trace(ws)
        await t.wait_closed()
    check_story(t)
    return t.events  # type: ignore[return-value]


async def test_verification_is_on_by_default() -> None:
    """A certificate from a CA the system does not trust: no ssl_context, no connection."""
    server = TLSServer(server_context(trustme.CA().issue_cert("127.0.0.1")))
    assert await connect(server) == FAIL
    assert server.then.requests == []


async def test_self_signed_certificate_fails() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with ca.cert_pem.tempfile() as cert, ca.private_key_pem.tempfile() as key:
        context.load_cert_chain(cert, key)
    server = TLSServer(context)
    assert await connect(server) == FAIL
    assert server.then.requests == []


async def test_certificate_for_another_host_fails() -> None:
    """Trusted CA, but the certificate names another host."""
    ca = trustme.CA()
    server = TLSServer(server_context(ca.issue_cert("example.org")))
    assert await connect(server, ssl_context=trusting(ca)) == FAIL
    assert server.then.requests == []


async def test_expired_certificate_fails() -> None:
    ca = trustme.CA()
    expired = ca.issue_cert(
        "127.0.0.1", not_after=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    )
    server = TLSServer(server_context(expired))
    assert await connect(server, ssl_context=trusting(ca)) == FAIL


async def test_sni_is_the_host_name() -> None:
    ca = trustme.CA()
    server = TLSServer(server_context(ca.issue_cert("localhost")))
    events = await connect(server, host="localhost", ssl_context=trusting(ca))
    assert events == [("open", 1), ("close", 3, 1000, "", True)]
    assert server.server_names == ["localhost"]


async def test_no_sni_for_an_ip_address() -> None:
    """RFC 6066 §3: literal IP addresses are not sent as SNI; the IP SAN is checked."""
    ca = trustme.CA()
    server = TLSServer(server_context(ca.issue_cert("127.0.0.1")))
    events = await connect(server, ssl_context=trusting(ca))
    assert events == [("open", 1), ("close", 3, 1000, "", True)]
    assert server.server_names == [None]


@pytest.mark.parametrize("during", ["handshake", "frames"])
async def test_hostile_server_behind_valid_tls(during: str) -> None:
    """TLS is fine, the WebSocket is not: the same failures as over TCP."""
    ca = trustme.CA()
    if during == "handshake":
        then = Hostile(response=b"HTTP/1.1 101 ", steps=[Fin()])
    else:
        then = Hostile(steps=[b"\xff" * 32])
    server = TLSServer(server_context(ca.issue_cert("127.0.0.1")), then=then)
    events = await connect(server, ssl_context=trusting(ca))
    assert events[-2:] == FAIL
    assert events[:-2] == ([] if during == "handshake" else [("open", 1)])
