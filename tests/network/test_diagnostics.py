"""The frame log (``w3cws.frames``), the trace API and the notebook view."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
import trio

import w3cws
from w3cws import TraceEvent, WebSocket, subscribe_trace
from w3cws._engine import diagnostics
from w3cws.testing import Behavior, Ping, Send, serve

from .conftest import record


@pytest.fixture
def traced() -> Iterator[list[TraceEvent]]:
    events: list[TraceEvent] = []
    unsubscribe = subscribe_trace(events.append)
    yield events
    unsubscribe()


async def session(url: str, *, binary: bool = False, **kwargs: Any) -> WebSocket:
    """Open, send "hello" (and bytes), read the echoes, close 1000 "bye"."""
    ws = WebSocket(url, **kwargs)
    ws.binaryType = "arraybuffer"
    r = record(ws)
    await r.wait_open()
    ws.send("hello")
    count = 1
    if binary:
        ws.send(b"\x01\x02\x03")
        count = 2
    await r.wait_messages(count)
    ws.close(1000, "bye")
    await r.wait_closed()
    return ws


async def test_frame_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="w3cws.frames")
    async with serve() as server:
        ws = await session(server.url + "/chat", binary=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "w3cws.frames"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "w3cws.frames")
    prefix = lines[0].split("] ", 1)[0] + "] "
    assert prefix.startswith("[ws#") and prefix.endswith(f" {ws.url}] ")
    assert [line.removeprefix(prefix) for line in lines] == [
        "> GET /chat HTTP/1.1",
        "< HTTP 101",
        "> TEXT 'hello' [5 bytes]",
        "> BINARY 01 02 03 [3 bytes]",
        "< TEXT 'hello' [5 bytes]",
        "< BINARY 01 02 03 [3 bytes]",
        "> CLOSE 1000 'bye'",
        "< CLOSE 1000 'bye'",
    ]


async def test_each_socket_has_its_own_prefix(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="w3cws.frames")
    async with serve() as server:
        await session(server.url + "/a")
        await session(server.url + "/b")
    prefixes = {
        r.getMessage().split("] ", 1)[0] for r in caplog.records if r.name == "w3cws.frames"
    }
    assert len(prefixes) == 2


async def test_long_and_unicode_payloads_are_shortened_and_counted_in_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="w3cws.frames")
    async with serve(Behavior(on_open=[Send("é" * 100)], echo=False)) as server:
        r = record(WebSocket(server.url + "/"))
        await r.wait_messages(1)
        r.ws.close()
        await r.wait_closed()
    [line] = [r.getMessage() for r in caplog.records if "< TEXT" in r.getMessage()]
    assert line.endswith("< TEXT '" + "é" * 60 + "…' [200 bytes]")


def test_nothing_is_recorded_when_nothing_listens() -> None:
    # The frame log off, no subscriber, not in a notebook: no recorder at all,
    # and the engine's hooks are one "is None" test per frame.
    logging.getLogger("w3cws.frames").setLevel(logging.INFO)
    try:
        in_notebook = "IPython" in sys.modules
        recorder = diagnostics.recorder_for(object(), 1, "ws://x/")
        assert (recorder is None) is not in_notebook
    finally:
        logging.getLogger("w3cws.frames").setLevel(logging.NOTSET)


async def test_trace_of_a_session(traced: list[TraceEvent]) -> None:
    behavior = Behavior(on_open=[Ping(b"hi")])
    async with serve(behavior) as server:
        ws = await session(server.url + "/t", binary=False)
        assert server.connections[0].pongs == [b"hi"]
    mine = [e for e in traced if e.socket is ws]
    # The server's Ping and the client's first send cross on the wire.
    kinds = [(e.kind, e.data.get("opcode")) for e in mine]
    ping = kinds.index(("frame-received", "PING"))
    assert kinds[ping + 1] == ("frame-sent", "PONG")
    assert mine[ping].data["payload"] == b"hi"
    del mine[ping : ping + 2]
    assert [(e.kind, e.data.get("opcode")) for e in mine] == [
        ("handshake-request", None),
        ("handshake-response", None),
        ("frame-sent", "TEXT"),
        ("frame-received", "TEXT"),
        ("frame-sent", "CLOSE"),
        ("frame-received", "CLOSE"),
        ("close", None),
    ]
    request, response = mine[0].data, mine[1].data
    assert request["request"] == "GET /t HTTP/1.1"
    assert ("Sec-WebSocket-Version", "13") in request["headers"]
    assert response["status"] == 101
    assert any(k.lower() == "sec-websocket-accept" for k, _ in response["headers"])
    assert mine[2].data["payload"] == "hello"
    assert mine[4].data == {"opcode": "CLOSE", "code": 1000, "reason": "bye"}
    assert mine[-1].data == {"code": 1000, "reason": "bye", "wasClean": True}
    times = [e.time for e in mine]
    assert times == sorted(times)


async def test_trace_of_a_failure(traced: list[TraceEvent]) -> None:
    async with serve(Behavior(reject=403)) as server:
        r = record(WebSocket(server.url + "/"))
        await r.wait_closed()
    mine = [e for e in traced if e.socket is r.ws]
    assert [e.kind for e in mine] == [
        "handshake-request",
        "handshake-response",
        "error",
        "close",
    ]
    assert mine[1].data["status"] == 403
    assert mine[2].data == {
        "cause": "opening handshake failed: the server answered with HTTP status 403"
    }
    assert mine[3].data == {"code": 1006, "reason": "", "wasClean": False}


async def test_unsubscribe_and_failing_subscribers(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(event: TraceEvent) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe_broken = subscribe_trace(broken)
    unsubscribe = subscribe_trace(lambda e: seen.append(e.kind))
    try:
        async with serve() as server:
            await session(server.url + "/")
            count = len(seen)
            assert count > 0
            unsubscribe()
            unsubscribe()  # harmless twice
            await session(server.url + "/")
        assert len(seen) == count
        assert "subscriber bug" in caplog.text
    finally:
        unsubscribe_broken()
        unsubscribe()


def test_subscribe_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        subscribe_trace("print")  # type: ignore[arg-type]


async def test_repr_html_shows_state_and_last_frames(traced: list[TraceEvent]) -> None:
    # A subscriber makes the socket keep its last frames, as a notebook does.
    async with serve() as server:
        ws = WebSocket(server.url + "/")
        assert "CONNECTING" in ws._repr_html_()
        r = record(ws)
        await r.wait_open()
        ws.send("<b>hi</b>")
        await r.wait_messages(1)
        view = ws._repr_html_()
        ws.close()
        await r.wait_closed()
    assert "1 (OPEN)" in view
    assert "permessage-deflate" in view
    assert "&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;" in view  # escaped
    assert view.count("<tr><td>&#x2191;</td><td>TEXT</td>") == 1  # sent
    assert view.count("<tr><td>&#x2193;</td><td>TEXT</td>") == 1  # received
    assert "3 (CLOSED)" in ws._repr_html_()


async def test_repr_html_keeps_a_bounded_number_of_frames(traced: list[TraceEvent]) -> None:
    async with serve() as server:
        ws = WebSocket(server.url + "/")
        r = record(ws)
        await r.wait_open()
        for i in range(diagnostics.LAST_FRAMES + 20):
            ws.send(str(i))
        await r.wait_messages(diagnostics.LAST_FRAMES + 20)
        view = ws._repr_html_()
        ws.close()
        await r.wait_closed()
    assert view.count("<tr><td>&#x") == diagnostics.LAST_FRAMES
    assert f"<code>&#x27;{diagnostics.LAST_FRAMES + 19}&#x27;</code>" in view
    assert "<code>&#x27;0&#x27;</code>" not in view


async def test_repr_html_without_recording() -> None:
    ws = WebSocket("ws://127.0.0.1:1/", proxy=None)
    view = ws._repr_html_()
    if "IPython" not in sys.modules:
        assert "Frames are kept for sockets created in a notebook" in view
    ws.close()
    with trio.fail_after(5):
        await ws.wait_for("close")
    assert ws.readyState == w3cws.WebSocket.CLOSED


async def test_repr_html_hides_credentials() -> None:
    ws = WebSocket("ws://user:secret@127.0.0.1:1/", proxy=None)
    view = ws._repr_html_()
    assert "secret" not in view
    assert "ws://127.0.0.1:1/" in view
    ws.close()
    with trio.fail_after(5):
        await ws.wait_for("close")


async def test_a_notebook_keeps_the_last_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a notebook (IPython loaded) sockets keep their last frames for the
    # view, with no subscriber and the frame log off.
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    async with serve() as server:
        ws = WebSocket(server.url + "/")
        r = record(ws)
        await r.wait_open()
        ws.send(b"\x00\xff")
        await r.wait_messages(1)
        ws.close(1000)
        await r.wait_closed()
    view = ws._repr_html_()
    assert "<td>BINARY</td><td><code>00 ff</code></td><td>2</td>" in view
    assert view.count("<td>CLOSE</td><td><code>1000 &#x27;&#x27;</code></td>") == 2
