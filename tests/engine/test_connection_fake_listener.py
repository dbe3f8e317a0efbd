"""The engine driven through a fake listener, against a raw loopback server.

The server is written here by hand (a 101 answer, then scripted bytes) and
records every frame the client sends, read by wsproto's server side (an
implementation independent of our codecs). Each case runs on both codecs:
the default choice and ``W3CWS_CODEC=wsproto``.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong

from w3cws._engine import ConnectOptions, Engine, open_engine
from w3cws._engine.codec import CODEC_ENV
from w3cws._url import parse_websocket_url

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeListener:
    """Records every call the engine makes, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.closed = trio.Event()
        self.engine: Engine | None = None
        # What to do when a message arrives (a listener's reaction).
        self.on_message: Callable[[str | bytes], None] = lambda data: None

    def _on_established(self, protocol: str, extensions: str) -> None:
        self.calls.append(("established", protocol, extensions))

    def _on_message(self, data: str | bytes) -> None:
        self.calls.append(("message", data))
        self.on_message(data)

    def _on_closing_handshake_started(self) -> None:
        self.calls.append(("closing",))

    def _on_sent(self, nbytes: int) -> None:
        self.calls.append(("sent", nbytes))

    def _on_closed(self, *, was_clean: bool, code: int, reason: str, failed: bool) -> None:
        self.calls.append(("closed", was_clean, code, reason, failed))
        self.closed.set()

    def _on_discarded(self) -> None:
        self.calls.append(("discarded",))
        self.closed.set()


class RawServer:
    """One-connection server: answers the handshake, sends ``script``, records the client."""

    def __init__(self, script: bytes, *, close_after_close: bool = True) -> None:
        self.script = script
        self.close_after_close = close_after_close
        self.received: list[object] = []
        self.raw = bytearray()
        self.done = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.script
        )
        reader = WsprotoConnection(ConnectionType.SERVER)
        try:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    break
                self.raw += data
                if not self.close_after_close:
                    # Read the raw frames: close TCP once a Close is in.
                    if any(opcode == 8 for opcode, _ in unmasked(bytes(self.raw))):
                        return
                    continue
                reader.receive_data(data)
                for event in reader.events():
                    self.received.append(event)
                    if isinstance(event, CloseConnection) and self.close_after_close:
                        return
        except trio.BrokenResourceError:
            pass
        finally:
            await stream.aclose()
            self.done.set()


@asynccontextmanager
async def serving(server: RawServer) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def connect(
    server: RawServer, listener: FakeListener, **options: Any
) -> list[tuple[Any, ...]]:
    """Run an engine against ``server`` until it reports its end."""
    async with serving(server) as port:
        url = parse_websocket_url(f"ws://127.0.0.1:{port}/")
        engine = open_engine(url, ConnectOptions(deflate=False, **options), listener)
        listener.engine = engine
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            with trio.fail_after(10):
                await listener.closed.wait()
                await server.done.wait()
    return listener.calls


@pytest.fixture(params=["fast", "wsproto"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(CODEC_ENV, request.param)
    return str(request.param)


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    head = bytes((first, n)) if n < 126 else struct.pack("!BBH", first, 126, n)
    return head + payload


# -- failures: the Close we send, in Chromium's words ------------------------------

FAILURES = {
    "masked frame": (b"\x82\x81abcd\x00", 1002, "Masked frame from server"),
    "reserved opcode": (frame(3, b""), 1002, "Unknown opcode"),
    "rsv without extension": (frame(2, b"x", rsv=4), 1002, "Invalid reserved bit"),
    "continuation first": (frame(0, b"x"), 1002, "Unexpected continuation"),
    "data inside a fragmented message": (
        frame(2, b"a", fin=False) + frame(1, b"b"),
        1002,
        "Previous data frame unfinished",
    ),
    "control frame over 125 bytes": (
        b"\x89\x7e\x00\x80" + b"x" * 128,
        1002,
        "WebSocket Protocol Error",
    ),
    "fragmented control frame": (frame(9, b"", fin=False), 1002, "WebSocket Protocol Error"),
    "invalid utf-8 in text": (frame(1, b"ok \xed\xa0\x80"), 1007, "Invalid UTF-8 in text frame"),
    "invalid utf-8 in close reason": (
        frame(8, b"\x03\xe8\xff"),
        1007,
        "Invalid UTF-8 in Close frame",
    ),
    "1-byte close": (frame(8, b"\x03"), 1002, ""),
    "close 1015 on the wire": (frame(8, struct.pack("!H", 1015)), 1002, ""),
    "close 999": (frame(8, struct.pack("!H", 999)), 1002, ""),
    "close 1004": (frame(8, struct.pack("!H", 1004)), 1002, ""),
    "close 5000": (frame(8, struct.pack("!H", 5000)), 1002, ""),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_failure_sends_chromiums_close(codec: str, case: str) -> None:
    bad, code, reason = FAILURES[case]
    server = RawServer(frame(2, b"before") + bad + frame(2, b"after"))
    calls = await connect(server, FakeListener())
    # RFC 6455 §7.1.7: the Close we sent, then error + close 1006 (WS §4).
    assert server.received == [CloseConnection(code=code, reason=reason)]
    assert calls == [
        ("established", "", ""),
        ("message", b"before"),
        ("closed", False, 1006, "", True),
    ]


async def test_too_big_message_fails_with_1009(codec: str) -> None:
    server = RawServer(frame(2, b"x" * 10) + frame(2, b"y" * 11))
    calls = await connect(server, FakeListener(), max_message_size=10)
    assert server.received == [CloseConnection(code=1009, reason="Message too big")]
    assert calls[-1] == ("closed", False, 1006, "", True)


# -- the closing handshake and the writer's phases ------------------------------------


async def test_server_close_is_echoed_and_later_data_dropped(codec: str) -> None:
    # The Close came in the same read as the message: by the time the reply
    # would be written the closing handshake has started, so it is dropped
    # (WS §3.1 send() step 3), as Chromium's channel drops it; the echo
    # carries the server's code and reason (RFC 6455 §5.5.1).
    server = RawServer(frame(1, "é".encode()) + frame(8, b"\x0f\xa0bye"))
    listener = FakeListener()

    def echo(data: str | bytes) -> None:
        assert listener.engine is not None
        listener.engine.send(data, 2)

    listener.on_message = echo
    calls = await connect(server, listener)
    assert server.received == [CloseConnection(code=4000, reason="bye")]
    assert calls == [
        ("established", "", ""),
        ("message", "é"),
        ("closing",),
        ("closed", True, 4000, "bye", False),
    ]


def unmasked(raw: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each masked client frame in ``raw`` (RFC 6455 §5.2-5.3)."""
    frames, pos = [], 0
    while pos + 2 <= len(raw):
        opcode, n = raw[pos] & 0x0F, raw[pos + 1] & 0x7F
        assert raw[pos + 1] & 0x80  # a client masks every frame
        pos += 2
        if n >= 126:
            size = 2 if n == 126 else 8
            n, pos = int.from_bytes(raw[pos : pos + size], "big"), pos + size
        key, pos = raw[pos : pos + 4], pos + 4
        if pos + n > len(raw):
            break  # not all here yet
        frames.append((opcode, bytes(b ^ key[i % 4] for i, b in enumerate(raw[pos : pos + n]))))
        pos += n
    return frames


async def test_1014_is_a_valid_close(codec: str) -> None:
    # IANA registered 1014 (wsproto, used by the server here, does not know it).
    server = RawServer(frame(8, struct.pack("!H", 1014) + b"gw"), close_after_close=False)
    calls = await connect(server, FakeListener())
    assert unmasked(bytes(server.raw)) == [(8, struct.pack("!H", 1014) + b"gw")]
    assert calls[-1] == ("closed", True, 1014, "gw", False)


async def test_empty_close_is_echoed_empty(codec: str) -> None:
    server = RawServer(frame(8, b""))
    calls = await connect(server, FakeListener())
    assert server.received == [CloseConnection(code=1005, reason="")]
    assert calls[-1] == ("closed", True, 1005, "", False)


async def test_ping_is_answered_even_when_the_close_follows_at_once(codec: str) -> None:
    server = RawServer(frame(9, b"hi") + frame(8, b"\x03\xe8"))
    await connect(server, FakeListener())
    assert server.received == [Pong(payload=b"hi"), CloseConnection(code=1000, reason="")]


async def test_nothing_follows_our_close(codec: str) -> None:
    # close() while messages are queued: they go first, then the Close, and
    # what is sent after close() and a Ping's answer never go out.
    server = RawServer(frame(2, b"go"))
    listener = FakeListener()

    def react(data: str | bytes) -> None:
        engine = listener.engine
        assert engine is not None
        engine.send(b"first", 5)
        engine.start_closing(3000, "done")
        engine.send(b"late", 4)

    listener.on_message = react
    server.script += frame(9, b"ignored")
    calls = await connect(server, listener)
    assert server.received == [
        BytesMessage(data=b"first", frame_finished=True, message_finished=True),
        CloseConnection(code=3000, reason="done"),
    ]
    assert not any(isinstance(e, Ping | Pong) for e in server.received)
    assert ("sent", 5) in calls
    assert ("sent", 4) not in calls
