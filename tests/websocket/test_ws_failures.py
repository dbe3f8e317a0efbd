"""Failure paths, timers and protocol errors, against raw misbehaving servers.

The raw servers here are written byte by byte (no WebSocket library), so they
can break the protocol on purpose. Timers run on trio's MockClock with an
autojump threshold: the clock jumps only once every task has been idle for a
real while, so loopback I/O still happens in real time.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme

from w3cws import WebSocket

from .conftest import (
    accept_response,
    frame,
    parse_frames,
    raw_server,
    read_request,
    read_until_closed,
    trace,
)

FAIL = [("error", 3), ("close", 3, 1006, "", False)]


@dataclass
class RawPeer:
    """Answers the handshake with ``response`` (None: a correct 101 with
    ``extra`` headers), sends ``after`` and records what the client sends."""

    after: bytes = b""
    extra: bytes = b""
    response: bytes | None = None
    then: str = "read"  # "read" until the client closes, "drop" TCP, "keep" open
    request: bytes = b""
    received: bytes = b""
    done: trio.Event = field(default_factory=trio.Event)

    async def __call__(self, stream: trio.SocketStream) -> None:
        try:
            self.request = await read_request(stream)
            head = (
                self.response
                if self.response is not None
                else accept_response(self.request, self.extra)
            )
            await stream.send_all(head + self.after)
            if self.then == "drop":
                return
            if self.then == "keep":
                await trio.sleep_forever()
            sent_close = any(op == 0x8 for op, _ in parse_frames(self.after))
            self.received = await read_until_closed(stream, 600, echo_close=not sent_close)
        finally:
            self.done.set()
            await trio.aclose_forcefully(stream)

    @property
    def frames(self) -> list[tuple[int, bytes]]:
        return parse_frames(self.received)


async def run_against(peer: RawPeer, **kwargs: object) -> list[tuple[object, ...]]:
    async with raw_server(peer) as url:
        ws = WebSocket(url + "/", **kwargs)  # type: ignore[arg-type]
        t = trace(ws)
        await t.wait_closed(timeout=30)
        with trio.fail_after(5):
            await peer.done.wait()
    return t.events


# -- failures before open ----------------------------------------------------


@pytest.mark.parametrize("port", [1, 22, 6000, 10080])
async def test_bad_port_fails_without_raising(port: int) -> None:
    ws = WebSocket(f"ws://127.0.0.1:{port}/")
    t = trace(ws)
    await t.wait_closed()
    assert t.events == FAIL


async def test_connection_refused_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = WebSocket(f"ws://127.0.0.1:{port}/")
    t = trace(ws)
    await t.wait_closed()
    assert t.events == FAIL


class _NoSuchHost(trio.abc.HostnameResolver):
    async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]  # noqa: PLR0917
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def getnameinfo(self, sockaddr, flags):  # type: ignore[no-untyped-def]
        raise NotImplementedError


async def test_dns_failure_fails() -> None:
    trio.socket.set_custom_hostname_resolver(_NoSuchHost())
    try:
        ws = WebSocket("ws://no-such-host.invalid/")
        t = trace(ws)
        await t.wait_closed()
    finally:
        trio.socket.set_custom_hostname_resolver(None)
    assert t.events == FAIL


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1/\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: d3JvbmcgYWNjZXB0IHRva2VuIQ==\r\n\r\n",
        b"this is not HTTP at all\r\n\r\n",
        b"",
    ],
    ids=["403", "redirect", "200", "wrong-accept", "garbage", "eof"],
)
async def test_bad_handshake_response_fails(response: bytes) -> None:
    peer = RawPeer(response=response, then="drop" if not response else "read")
    assert await run_against(peer) == FAIL


@pytest.mark.parametrize(
    ("extra", "protocols"),
    [
        (b"Sec-WebSocket-Protocol: other\r\n", ["chat"]),  # not offered
        (b"Sec-WebSocket-Protocol: chat\r\n", None),  # nothing was offered
        (b"", ["chat"]),  # requested, none selected (WS §2.2)
        (b"Sec-WebSocket-Extensions: x-unknown\r\n", None),
        (b"Sec-WebSocket-Extensions: permessage-deflate; bogus\r\n", None),
        (b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n", None),
        (b"Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n", None),
        (b"Upgrade: h2c\r\n", None),
    ],
)
async def test_bad_negotiation_fails(extra: bytes, protocols: list[str] | None) -> None:
    if extra.startswith(b"Upgrade"):
        peer = RawPeer(response=b"HTTP/1.1 101 Switching Protocols\r\n" + extra + b"\r\n")
    else:
        peer = RawPeer(extra=extra)
    assert await run_against(peer, protocols=protocols) == FAIL


async def test_extension_not_offered_when_deflate_off() -> None:
    peer = RawPeer(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert await run_against(peer, deflate=False) == FAIL


async def test_tls_untrusted_certificate_fails() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_ctx, server_side=True)
        with contextlib.suppress(trio.BrokenResourceError):
            await tls.do_handshake()
        await trio.aclose_forcefully(tls)

    async with raw_server(handler) as url:
        ws = WebSocket(url.replace("ws://", "wss://") + "/")  # system trust store: not trusted
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


async def test_tls_trusted_certificate_connects() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_ctx, server_side=True)
        request = await read_request(tls)  # type: ignore[arg-type]
        await tls.send_all(
            accept_response(request) + frame(0x1, b"secure") + frame(0x8, b"\x03\xe8")
        )
        await read_until_closed(tls)  # type: ignore[arg-type]
        await trio.aclose_forcefully(tls)

    async with raw_server(handler) as url:
        ws = WebSocket(url.replace("ws://", "wss://") + "/", ssl_context=client_ctx)
        t = trace(ws)
        await t.wait_closed()
    assert t.events == [("open", 1), ("message", 1, "secure"), ("close", 3, 1000, "", True)]


async def test_one_connecting_per_host() -> None:
    """RFC 6455 §4.1: the second handshake starts only after the first ends."""
    order: list[str] = []

    async def handler(stream: trio.SocketStream) -> None:
        request = await read_request(stream)
        name = request.split(b" ")[1].decode()
        order.append(f"request {name}")
        if name == "/a":
            # Until everything else is idle: a second handshake started too
            # early would have its request read by now.
            await trio.testing.wait_all_tasks_blocked()
        order.append(f"answer {name}")
        await stream.send_all(accept_response(request))
        await read_until_closed(stream)

    async with raw_server(handler) as url:
        first, second = WebSocket(url + "/a"), WebSocket(url + "/b")
        t1, t2 = trace(first), trace(second)
        await t1.wait_open()
        await t2.wait_open()
        first.close()
        second.close()
        await t1.wait_closed()
        await t2.wait_closed()
    assert order == ["request /a", "answer /a", "request /b", "answer /b"]


async def test_failure_of_one_socket_leaves_others_alone() -> None:
    peer = RawPeer(after=frame(0x1, b"ok"))
    async with raw_server(peer) as url:
        good = WebSocket(url + "/")
        bad = WebSocket("ws://127.0.0.1:1/")
        tg, tb = trace(good), trace(bad)
        good.onmessage = lambda e: good.close()
        await tb.wait_closed()
        await tg.wait_closed()
    assert tb.events == FAIL
    assert tg.types == ["open", "message", "close"]


# -- closing: the server's side and the timers -------------------------------


async def test_tcp_drop_while_open_is_close_only() -> None:
    peer = RawPeer(after=frame(0x1, b"bye"), then="drop")
    assert await run_against(peer) == [
        ("open", 1),
        ("message", 1, "bye"),
        ("close", 3, 1006, "", False),
    ]


async def test_empty_close_from_server_is_1005() -> None:
    peer = RawPeer(after=frame(0x8, b""))
    events = await run_against(peer)
    assert events == [("open", 1), ("close", 3, 1005, "", True)]
    assert peer.frames == [(0x8, b"")]  # an empty body is echoed empty


async def test_server_close_then_data_is_ignored() -> None:
    peer = RawPeer(after=frame(0x8, b"\x0f\xa0x") + frame(0x1, b"ignored"))
    events = await run_against(peer)
    assert events == [("open", 1), ("close", 3, 4000, "x", True)]
    assert peer.frames == [(0x8, b"\x0f\xa0x")]


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1008, 1011, 1012, 1013, 1014, 3000, 4999])
async def test_valid_close_codes_are_accepted(code: int) -> None:
    peer = RawPeer(after=frame(0x8, code.to_bytes(2, "big") + b"why"))
    events = await run_against(peer)
    assert events == [("open", 1), ("close", 3, code, "why", True)]
    assert peer.frames == [(0x8, code.to_bytes(2, "big") + b"why")]


async def test_server_never_answers_close_60s(mock_clock: trio.testing.MockClock) -> None:
    """Chromium's closing handshake timeout, on the default 60 s."""
    mock_clock.autojump_threshold = 0.1
    peer = RawPeer(then="keep")
    async with raw_server(peer) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        await t.wait_open()
        ws.close(1000)
        start = trio.current_time()
        with trio.fail_after(120):
            await t.closed.wait()
        waited = trio.current_time() - start
    assert t.events == [("open", 1), ("close", 3, 1006, "", False)]
    assert 60 <= waited < 61


async def test_close_timeout_keyword() -> None:
    peer = RawPeer(then="keep")
    async with raw_server(peer) as url:
        ws = WebSocket(url + "/", close_timeout=0.2)
        t = trace(ws)
        ws.onopen = lambda e: ws.close()
        await t.wait_closed()
    assert t.events == [("open", 1), ("close", 3, 1006, "", False)]


async def test_server_keeps_tcp_open_after_close_2s(mock_clock: trio.testing.MockClock) -> None:
    """Both Close frames exchanged, the server keeps TCP: clean after 2 s."""
    mock_clock.autojump_threshold = 0.1
    peer = RawPeer(after=frame(0x8, b"\x0b\xb8done"), then="keep")
    async with raw_server(peer) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        await t.wait_open()
        start = trio.current_time()
        with trio.fail_after(60):
            await t.closed.wait()
        waited = trio.current_time() - start
    assert t.events == [("open", 1), ("close", 3, 3000, "done", True)]
    assert 2 <= waited < 3


# -- protocol errors: fail the connection with the right code ----------------


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (frame(0x1, b"ok\xc3", fin=False) + frame(0x0, b"(x"), 1007),  # across fragments
        (frame(0x1, b"masked", mask=True), 1002),
        (frame(0x3, b""), 1002),  # reserved data opcode
        (frame(0xB, b""), 1002),  # reserved control opcode
        (frame(0x1, b"x", rsv=2), 1002),  # RSV2 without an extension
        (frame(0x9, b"x" * 126), 1002),  # control frame over 125 bytes
        (frame(0x9, b"", fin=False), 1002),  # fragmented control frame
        (frame(0x0, b"orphan"), 1002),  # continuation without a start
        (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),  # new message mid-message
        (frame(0x8, b"\x03"), 1002),  # 1-byte Close body
        (frame(0x8, (999).to_bytes(2, "big")), 1002),
        (frame(0x8, (1004).to_bytes(2, "big")), 1002),
        (frame(0x8, (1005).to_bytes(2, "big")), 1002),
        (frame(0x8, (1006).to_bytes(2, "big")), 1002),
        (frame(0x8, (1015).to_bytes(2, "big")), 1002),
        (frame(0x8, (2000).to_bytes(2, "big")), 1002),
        (frame(0x8, (5000).to_bytes(2, "big")), 1002),
        (frame(0x8, b"\x03\xe8\xff"), 1007),  # invalid UTF-8 reason
    ],
)
async def test_protocol_error_fails_with_close_code(bad: bytes, code: int) -> None:
    peer = RawPeer(after=bad)
    events = await run_against(peer)
    assert events == [("open", 1), *FAIL]
    assert [f[0] for f in peer.frames] == [0x8]
    assert int.from_bytes(peer.frames[0][1][:2], "big") == code


async def test_message_too_big_fails_with_1009() -> None:
    peer = RawPeer(after=frame(0x2, b"x" * 2000))
    events = await run_against(peer, max_message_size=1000)
    assert events == [("open", 1), *FAIL]
    assert peer.frames[0][0] == 0x8
    assert int.from_bytes(peer.frames[0][1][:2], "big") == 1009


async def test_message_at_the_limit_is_delivered() -> None:
    peer = RawPeer(after=frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 400))
    async with raw_server(peer) as url:
        ws = WebSocket(url + "/", max_message_size=1000)
        t = trace(ws)
        ws.onmessage = lambda e: ws.close()
        await t.wait_closed()
    assert t.messages == ["a" * 600 + "b" * 400]


async def test_compressed_bomb_is_bounded() -> None:
    """64 MiB of zeros compressed to ~64 KB: failed at the limit, not inflated whole."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = comp.compress(bytes(64 * 1024 * 1024)) + comp.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]
    peer = RawPeer(
        extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
        after=frame(0x2, payload, rsv=4),
    )
    events = await run_against(peer, max_message_size=1024 * 1024)
    assert events == [("open", 1), *FAIL]
    assert int.from_bytes(peer.frames[0][1][:2], "big") == 1009


# -- the hosting run ends: page-unload semantics ------------------------------


def test_run_ending_sends_going_away_and_no_events(tmp_path: object) -> None:
    """A trio.run that returns with a socket open: Close 1001, no events, no hang."""
    script = textwrap.dedent(
        """
        import socket, sys, threading, trio
        from w3cws import WebSocket
        # The helpers of the tests, found after w3cws (the one under test).
        sys.path.append(ROOT)
        import tests.websocket.conftest as c

        got = {}
        def server(listener):
            conn, _ = listener.accept()
            req = b""
            while b"\\r\\n\\r\\n" not in req:
                req += conn.recv(65536)
            conn.sendall(c.accept_response(req))
            data = b""
            conn.settimeout(5)
            while chunk := conn.recv(65536):
                data += chunk
            got["frames"] = c.parse_frames(data)

        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        th = threading.Thread(target=server, args=(listener,))
        th.start()
        events = []
        async def main():
            ws = WebSocket(f"ws://127.0.0.1:{port}/")
            for kind in ("open", "message", "error", "close"):
                ws.addEventListener(kind, lambda e: events.append(e.type))
            with trio.fail_after(5):
                await ws.wait_for("open")
            return ws
        ws = trio.run(main)
        th.join(5)
        print(events, ws.readyState, got["frames"])
        """
    ).replace("ROOT", repr(str(Path(__file__).resolve().parents[2])))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.strip() == "['open'] 3 [(8, b'\\x03\\xe9')]"


async def test_internal_error_becomes_events_and_spares_other_sockets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the engine fails that socket (error, close 1006) and is logged."""
    from w3cws._engine import handshake

    peer = RawPeer(after=frame(0x1, b"fine"))
    async with raw_server(peer) as url:
        good = WebSocket(url + "/")
        tg = trace(good)
        good.onmessage = lambda e: good.close()
        await tg.wait_closed()

        def broken(self: object, data: bytes) -> None:
            raise RuntimeError("engine bug")

        monkeypatch.setattr(handshake.OpeningHandshake, "receive", broken)
        bad = WebSocket(url + "/")
        tb = trace(bad)
        await tb.wait_closed()
    assert tb.events == FAIL
    assert tg.types == ["open", "message", "close"]
    assert "engine bug" in caplog.text
