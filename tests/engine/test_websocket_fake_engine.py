"""The WebSocket object driven through a fake engine: no socket, no wsproto.

The fake records what the object asks of its engine and plays the engine's
side of the listener interface, so the WHATWG steps of the object (WS §3-4)
are checked on their own.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import trio

from w3cws import CloseEvent, InvalidStateError, MessageEvent, WebSocket
from w3cws._engine import ConnectOptions, EngineListener
from w3cws._url import WebSocketURL


class FakeEngine:
    """Records the WebSocket's calls; ``run`` waits until the test ends it."""

    made: ClassVar[list[FakeEngine]] = []

    def __init__(self, url: WebSocketURL, options: ConnectOptions, listener: EngineListener):
        self.url = url
        self.options = options
        self.listener = listener
        self.id = 0
        self.recorder = None
        self.calls: list[tuple[Any, ...]] = []
        self.running = trio.Event()
        self.stop = trio.Event()
        FakeEngine.made.append(self)

    def send(self, data: str | bytes | memoryview, size: int) -> None:
        self.calls.append(("send", bytes(data) if isinstance(data, memoryview) else data, size))

    def start_closing(self, code: int | None, reason: str) -> None:
        self.calls.append(("start_closing", code, reason))

    def abort_connecting(self) -> None:
        self.calls.append(("abort_connecting",))

    async def run(self) -> None:
        self.running.set()
        await self.stop.wait()


class FakeWebSocket(WebSocket):
    _engine_factory = FakeEngine


def record(ws: WebSocket) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = []

    def listener(event: Any) -> None:
        row: tuple[Any, ...] = (event.type, ws.readyState)
        if isinstance(event, MessageEvent):
            row += (event.data,)
        if isinstance(event, CloseEvent):
            row += (event.wasClean, event.code, event.reason)
        events.append(row)

    for kind in ("open", "message", "error", "close"):
        ws.addEventListener(kind, listener)
    return events


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeWebSocket, FakeEngine]:
    FakeEngine.made.clear()
    ws = FakeWebSocket("ws://example.test/chat", ["a", "b"], nursery=nursery, **kwargs)
    [engine] = FakeEngine.made
    with trio.fail_after(5):
        await engine.running.wait()
    return ws, engine


async def test_construction_hands_the_options_and_the_listener_to_the_engine() -> None:
    async with trio.open_nursery() as nursery:
        ws, engine = await start(nursery, deflate=False, max_message_size=10)
        assert engine.listener is ws
        assert engine.url.href == "ws://example.test/chat"
        assert engine.options.protocols == ("a", "b")
        assert (engine.options.deflate, engine.options.max_message_size) == (False, 10)
        assert ws.readyState == WebSocket.CONNECTING
        engine.stop.set()


async def test_a_whole_life_through_the_listener_calls() -> None:
    async with trio.open_nursery() as nursery:
        ws, engine = await start(nursery)
        events = record(ws)
        with pytest.raises(InvalidStateError):
            ws.send("too early")  # WS §3.1 send() step 1
        ws.binaryType = "arraybuffer"
        ws._on_established("b", "permessage-deflate")
        assert (ws.readyState, ws.protocol, ws.extensions) == (1, "b", "permessage-deflate")
        ws.send("hé")
        ws.send(bytearray(b"xyz"))
        assert engine.calls == [("send", "hé", 3), ("send", b"xyz", 3)]
        assert ws.bufferedAmount == 6
        ws._on_sent(6)
        assert ws.bufferedAmount == 0
        ws._on_message(b"\x00\x01")
        ws._on_message("text")
        ws.close(4000, "bye")
        assert engine.calls[-1] == ("start_closing", 4000, "bye")
        assert ws.readyState == WebSocket.CLOSING
        ws.send("after close")  # counted, not handed to the engine (step 4)
        assert ws.bufferedAmount == len("after close")
        assert engine.calls[-1] == ("start_closing", 4000, "bye")
        ws._on_message("dropped")  # only delivered while OPEN
        ws._on_closed(was_clean=True, code=4000, reason="bye", failed=False)
        assert events == [
            ("open", 1),
            ("message", 1, b"\x00\x01"),
            ("message", 1, "text"),
            ("close", 3, True, 4000, "bye"),
        ]
        engine.stop.set()


async def test_close_while_connecting_aborts_and_a_failure_fires_error() -> None:
    async with trio.open_nursery() as nursery:
        ws, engine = await start(nursery)
        events = record(ws)
        ws.close()
        assert engine.calls == [("abort_connecting",)]
        assert ws.readyState == WebSocket.CLOSING
        ws._on_closed(was_clean=False, code=1006, reason="", failed=True)
        assert events == [("error", 3), ("close", 3, False, 1006, "")]
        engine.stop.set()


@pytest.mark.parametrize(
    ("args", "expected"),
    [((), (None, "")), ((1000,), (1000, "")), ((None, "why"), (1000, "why"))],
)
async def test_close_arguments_reach_the_engine(args: tuple[Any, ...], expected: Any) -> None:
    async with trio.open_nursery() as nursery:
        ws, engine = await start(nursery)
        ws._on_established("", "")
        ws.close(*args)
        assert engine.calls == [("start_closing", *expected)]
        engine.stop.set()


async def test_server_close_moves_to_closing_without_an_event() -> None:
    async with trio.open_nursery() as nursery:
        ws, engine = await start(nursery)
        events = record(ws)
        ws._on_established("", "")
        ws._on_closing_handshake_started()
        assert ws.readyState == WebSocket.CLOSING
        ws.close()  # step 3: already closing, nothing to do
        assert engine.calls == []
        ws._on_discarded()
        assert ws.readyState == WebSocket.CLOSED
        assert events == [("open", 1)]
        engine.stop.set()
