"""Why a connection failed: one WARNING on ``w3cws.connection``, like the console.

The script sees what a browser's script sees (``error``, then ``close``
1006, no detail); the log line names the URL and the cause.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

from w3cws import WebSocket
from w3cws.testing import Behavior, serve

from .conftest import FailingResolver, Tls, record


async def failure_line(caplog: pytest.LogCaptureFixture, url: str, **kwargs: Any) -> str:
    """Open ``url``, expect a failure as the browser reports it, return the WARNING."""
    caplog.set_level(logging.DEBUG, logger="w3cws.connection")
    ws = WebSocket(url, **kwargs)
    r = record(ws)
    await r.wait_closed()
    assert r.types[-2:] == ["error", "close"]
    assert r.events[-1] == ("close", 1006, False)
    mine = f"WebSocket connection to {ws.url!r} "
    lines = [
        rec
        for rec in caplog.records
        if rec.name == "w3cws.connection" and rec.getMessage().startswith(mine)
    ]
    assert [rec.levelno for rec in lines] == [logging.WARNING]
    return lines[0].getMessage()


@asynccontextmanager
async def raw_server(handler: Callable[[trio.SocketStream], Awaitable[None]]) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        nursery.cancel_scope.cancel()


async def read_head(stream: trio.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


def accept(request: bytes, *, wrong: bool = False) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    value = base64.b64encode(digest[::-1] if wrong else digest)
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + value + b"\r\n\r\n"
    )


async def test_refused(caplog: pytest.LogCaptureFixture) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        line = await failure_line(caplog, f"ws://127.0.0.1:{port}/chat")
    assert (
        line == f"WebSocket connection to 'ws://127.0.0.1:{port}/chat' failed: connection refused"
    )


async def test_dns_failure(caplog: pytest.LogCaptureFixture) -> None:
    previous = trio.socket.set_custom_hostname_resolver(FailingResolver())
    try:
        line = await failure_line(caplog, "ws://no-such-host.test/")
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    assert line == (
        "WebSocket connection to 'ws://no-such-host.test/' failed: "
        "DNS lookup failed (Name or service not known)"
    )


async def test_timeout(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await read_head(stream)
        await trio.sleep_forever()

    async with raw_server(silent) as url:
        line = await failure_line(caplog, url, open_timeout=3)
    assert (
        line
        == f"WebSocket connection to '{url}' failed: timed out: not open after 3 s (open_timeout)"
    )


async def test_tls_verification(caplog: pytest.LogCaptureFixture, tls: Tls) -> None:
    async with serve(ssl_context=tls.server_context()) as server:
        line = await failure_line(caplog, server.url + "/")  # the system trust store
    assert line == (
        f"WebSocket connection to '{server.url}/' failed: TLS certificate verification "
        "failed: unable to get local issuer certificate"
    )


async def test_tls_host_name_mismatch(caplog: pytest.LogCaptureFixture, tls: Tls) -> None:
    context = ssl_for_other_host(tls)
    async with serve(ssl_context=context) as server:
        line = await failure_line(caplog, server.url + "/", ssl_context=tls.client_context())
    assert "failed: TLS certificate verification failed: " in line
    assert "127.0.0.1" in line.split("failed: TLS", 1)[1]


def ssl_for_other_host(tls: Tls) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.ca.issue_cert("other.example").configure_cert(context)
    return context


@pytest.mark.parametrize("status", [403, 404, 500])
async def test_http_status(status: int, caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Behavior(reject=status)) as server:
        line = await failure_line(caplog, server.url + "/")
    assert line == (
        f"WebSocket connection to '{server.url}/' failed: opening handshake failed: "
        f"the server answered with HTTP status {status}"
    )


async def test_bad_accept(caplog: pytest.LogCaptureFixture) -> None:
    async def wrong(stream: trio.SocketStream) -> None:
        await stream.send_all(accept(await read_head(stream), wrong=True))
        await trio.sleep_forever()

    async with raw_server(wrong) as url:
        line = await failure_line(caplog, url)
    assert line == (
        f"WebSocket connection to '{url}' failed: opening handshake failed: "
        "wrong Sec-WebSocket-Accept"
    )


async def test_protocol_error_names_the_close_code(caplog: pytest.LogCaptureFixture) -> None:
    async def masked(stream: trio.SocketStream) -> None:
        await stream.send_all(accept(await read_head(stream)))
        # A masked frame from the server (RFC 6455 §5.1): the client fails with 1002.
        await stream.send_all(b"\x81\x82abcd" + b"\x09\x0b")  # "hi" masked
        with trio.move_on_after(5):
            while await stream.receive_some(4096):
                pass

    async with raw_server(masked) as url:
        line = await failure_line(caplog, url)
    assert line == (
        f"WebSocket connection to '{url}' failed: protocol error: "
        "Masked frame from server (w3cws sent close code 1002)"
    )


async def test_message_too_big(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Behavior(echo=True)) as server:
        ws = WebSocket(server.url + "/", max_message_size=4)
        r = record(ws)
        await r.wait_open()
        ws.send("hello")
        caplog.set_level(logging.WARNING, logger="w3cws.connection")
        await r.wait_closed()
    [line] = [rec.getMessage() for rec in caplog.records if rec.name == "w3cws.connection"]
    assert line == (
        f"WebSocket connection to '{server.url}/' failed: protocol error: "
        "Message too big (w3cws sent close code 1009)"
    )
    assert r.types == ["open", "error", "close"]


async def test_bad_port(caplog: pytest.LogCaptureFixture) -> None:
    line = await failure_line(caplog, "ws://127.0.0.1:25/")
    assert line == (
        "WebSocket connection to 'ws://127.0.0.1:25/' failed: port 25 is blocked (Fetch bad port)"
    )


async def test_close_while_connecting(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Behavior(handshake_delay=30)) as server:
        caplog.set_level(logging.WARNING, logger="w3cws.connection")
        ws = WebSocket(server.url + "/")
        r = record(ws)
        ws.close()
        await r.wait_closed()
    [line] = [rec.getMessage() for rec in caplog.records if rec.name == "w3cws.connection"]
    assert line.endswith("failed: close() was called before the connection was established")


async def test_a_clean_close_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="w3cws.connection")
    async with serve() as server:
        r = record(WebSocket(server.url + "/"))
        await r.wait_open()
        r.ws.close()
        await r.wait_closed()
    assert not [rec for rec in caplog.records if rec.name == "w3cws.connection"]
