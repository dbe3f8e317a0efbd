"""intercept(): hard-coded URLs answered in memory by a fake server the test drives.

The client is w3cws's own WebSocket (what intercept exists for); the fake
server's wire protocol is also checked against an independent client, the
sans-I/O client of the ``websockets`` library, over the same in-memory stream.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest
import trio
import trio.testing
from websockets.client import ClientProtocol
from websockets.frames import Close as WsClose
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

import w3cws
from w3cws import WebSocket
from w3cws._engine import intercept as seam
from w3cws.testing import Behavior, Close, Send, ServerThread, intercept, serve

URL = "wss://api.example.test/feed"
TIMEOUT = 5


class Recorder:
    """Records a socket's events as (type, details) and signals the close."""

    def __init__(self, ws: WebSocket) -> None:
        ws.binaryType = "arraybuffer"
        self.events: list[tuple[str, object]] = []
        self.closed = trio.Event()
        ws.onopen = lambda event: self.events.append(("open", ws.protocol))
        ws.onmessage = lambda event: self.events.append(("message", event.data))
        ws.onerror = lambda event: self.events.append(("error", None))
        ws.onclose = self._on_close

    def _on_close(self, event: object) -> None:
        self.events.append(("close", (event.code, event.reason, event.wasClean)))  # type: ignore[attr-defined]
        self.closed.set()


async def test_the_core_names_drive_a_client_with_a_hard_coded_url() -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(URL) as server:
            ws = WebSocket(URL, ["feed.v2", "feed.v1"])
            seen = Recorder(ws)
            ws.onopen = lambda event: (
                seen.events.append(("open", ws.protocol)),
                ws.send('{"op":"subscribe"}'),
            )
            conn = await server.next_connection()
            assert conn.url == URL
            assert conn.protocols == ["feed.v2", "feed.v1"]
            assert conn.protocol == "feed.v2"
            assert await conn.next_message() == '{"op":"subscribe"}'
            conn.send("tick")
            conn.send(b"\x00\xff")
            await conn.close(4000, "bye")
            await seen.closed.wait()
    assert seen.events == [
        ("open", "feed.v2"),
        ("message", "tick"),
        ("message", b"\x00\xff"),
        ("close", (4000, "bye", True)),
    ]
    assert conn.closed
    # The client's answer to the server's Close echoes its code.
    assert conn.close_code == 4000


async def test_drop_is_an_abrupt_loss_the_client_sees_as_1006() -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(URL) as server:
            ws = WebSocket(URL)
            seen = Recorder(ws)
            opened = trio.Event()
            ws.addEventListener("open", lambda event: opened.set())
            conn = await server.next_connection()
            await opened.wait()
            conn.drop()
            await seen.closed.wait()
    assert seen.events == [("open", ""), ("close", (1006, "", False))]
    assert conn.closed


async def test_the_client_closing_is_answered_and_recorded() -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(URL) as server:
            ws = WebSocket(URL)
            seen = Recorder(ws)
            ws.onopen = lambda event: (ws.send("last"), ws.close(3001, "done"))
            conn = await server.next_connection()
            await conn.wait_closed()
            await seen.closed.wait()
    assert conn.messages == ["last"]
    assert (conn.close_code, conn.close_reason) == (3001, "done")
    assert seen.events[-1] == ("close", (3001, "done", True))


async def test_other_urls_go_to_the_network() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Send("from the network")])) as real:
            async with intercept("ws://127.0.0.1:1/*") as server:
                ws = WebSocket(real.url + "/x")
                seen = Recorder(ws)
                ws.onmessage = lambda event: (
                    seen.events.append(("message", event.data)),
                    ws.close(),
                )
                await seen.closed.wait()
            assert server.connections == []
            assert real.connections[0].path == "/x"
    assert seen.events == [
        ("open", ""),
        ("message", "from the network"),
        ("close", (1005, "", True)),
    ]


@pytest.mark.parametrize(
    ("pattern", "url", "taken"),
    [
        ("wss://api.example.test", "wss://api.example.test/", True),
        ("wss://api.example.test/feed", "wss://api.example.test/feed?x=1", False),
        ("wss://*.example.test/*", "wss://eu.api.example.test/a/b?c=d", True),
        ("wss://*.example.test/*", "ws://eu.example.test/a", False),
        ("ws://h.test/?a=[1]*", "ws://h.test/?a=[1]&b", True),
        ("ws://h.test/?a=[1]*", "ws://h.test/?a=1", False),
        ("wss://h.test:443/p", "wss://h.test/p", True),
        ("ws://[::1]:9000/v6?q", "ws://[::1]:9000/v6?q", True),
        ("ws://[::1]:9000/v6", "ws://[::1]:9001/v6", False),
        (lambda url: url.endswith("/live"), "ws://anything.test:9000/live", True),
        (lambda url: url.endswith("/live"), "ws://anything.test:9000/dead", False),
    ],
)
async def test_patterns(pattern: str | Callable[[str], bool], url: str, taken: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(pattern) as server:
            ws = WebSocket(url)
            seen = Recorder(ws)
            ws.onopen = lambda event: ws.close()
            await seen.closed.wait()
    assert [conn.url for conn in server.connections] == ([url] if taken else [])
    # Not taken: the network had no such host, so the connection failed.
    assert seen.events[-1] == ("close", (1005, "", True) if taken else (1006, "", False))


def test_a_bad_pattern_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="a URL, a '\\*' pattern or a predicate"):
        intercept(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reject must be an HTTP status"):
        intercept(URL, reject=99)


async def test_reject_refuses_the_handshake() -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(URL, reject=403) as server:
            ws = WebSocket(URL)
            seen = Recorder(ws)
            conn = await server.next_connection()
            await seen.closed.wait()
    assert not conn.accepted
    assert seen.events == [("error", None), ("close", (1006, "", False))]


@pytest.mark.parametrize(
    ("choice", "offered", "expected"),
    [
        ("chat", ["json", "chat"], ("open", "chat")),
        (None, [], ("open", "")),
        # Offered but none selected fails too (WS "establish" step: the header must be there).
        (None, ["json"], ("error", None)),
        (lambda offered: offered[-1], ["a", "b"], ("open", "b")),
        # A subprotocol the client did not offer fails the connection (WS §4.1 step 6).
        ("other", ["json"], ("error", None)),
    ],
)
async def test_the_test_chooses_the_subprotocol(
    choice: object, offered: list[str], expected: tuple[str, object]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept(URL, subprotocol=choice) as server:  # type: ignore[arg-type]
            ws = WebSocket(URL, offered)
            seen = Recorder(ws)
            ws.onopen = lambda event: (seen.events.append(("open", ws.protocol)), ws.close())
            await server.next_connection()
            await seen.closed.wait()
    assert seen.events[0] == expected


async def test_json_broadcast_and_connections() -> None:
    with trio.fail_after(TIMEOUT):
        async with intercept("ws://chat.test/*") as server:
            sockets = [WebSocket(f"ws://chat.test/room{n}") for n in range(3)]
            seen = [Recorder(ws) for ws in sockets]
            for ws in sockets:
                ws.onopen = lambda event, ws=ws: ws.send('{"hello": "' + ws.url[-5:] + '"}')
            conns = [await server.next_connection() for _ in sockets]
            assert [await conn.next_json() for conn in conns] == [
                {"hello": f"room{n}"} for n in range(3)
            ]
            assert server.connections == conns
            conns[1].drop()
            await seen[1].closed.wait()
            # Each client closes once its messages are in (a browser drops
            # messages that arrive after close() was called).
            for ws, recorder, expected in zip(sockets, seen, (2, 0, 1), strict=True):
                ws.onmessage = lambda event, ws=ws, r=recorder, n=expected: (
                    r.events.append(("message", event.data)),
                    len(r.events) == n and ws.close(),
                )
            server.broadcast("to all")
            conns[0].send_json({"n": [1, 2]})
            for recorder in (seen[0], seen[2]):
                await recorder.closed.wait()
    assert [r.events[:-1] for r in seen] == [
        [("message", "to all"), ("message", '{"n": [1, 2]}')],
        [],
        [("message", "to all")],
    ]


async def test_waits_fail_with_what_never_came(autojump_clock: trio.testing.MockClock) -> None:
    async with intercept(URL) as server:
        with pytest.raises(
            TimeoutError,
            match=r"no new connection to intercept\('wss://api.example.test/feed'\) "
            r"within 3 s \(0 so far\)",
        ):
            await server.next_connection(timeout=3)
        ws = WebSocket(URL)
        seen = Recorder(ws)
        conn = await server.next_connection()
        with pytest.raises(
            TimeoutError,
            match=rf"no message from the client on {URL} within 2 s \(0 received so far\)",
        ):
            await conn.next_message(timeout=2)
        ws.close(3000, "gone")
        with pytest.raises(
            ConnectionError, match=r"closed \(code 3000, reason 'gone'\) before the next message"
        ):
            await conn.next_message()
        await seen.closed.wait()
        with pytest.raises(RuntimeError, match="not open"):
            conn.send("late")


async def test_reconnect_backoff_runs_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client with a hard-coded URL and a 30 s backoff, untouched by the test."""

    async def app() -> None:
        while True:
            ws = WebSocket("wss://feed.example.test/live")
            closed = trio.Event()
            ws.onclose = lambda event, closed=closed: closed.set()
            await closed.wait()
            await trio.sleep(30)

    async with intercept("wss://feed.example.test/live") as server, trio.open_nursery() as nursery:
        nursery.start_soon(app)
        first = await server.next_connection()
        dropped_at = trio.current_time()
        first.drop()
        second = await server.next_connection(timeout=60)
        assert trio.current_time() - dropped_at >= 30
        assert second is not first and second.url == "wss://feed.example.test/live"
        nursery.cancel_scope.cancel()


async def test_a_set_timeout_backoff_runs_in_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The same client as JavaScript writes it: reconnect from onclose with setTimeout."""
    sockets: list[WebSocket] = []

    def connect() -> None:
        ws = WebSocket("wss://feed.example.test/js")
        ws.onclose = lambda event: w3cws.setTimeout(connect, 30_000)
        sockets.append(ws)

    async with intercept("wss://feed.example.test/js") as server:
        connect()
        first = await server.next_connection()
        dropped_at = trio.current_time()
        first.drop()
        second = await server.next_connection(timeout=60)
        assert trio.current_time() - dropped_at >= 30
        assert len(sockets) == 2 and sockets[0].readyState == WebSocket.CLOSED
        sockets[1].onclose = None
        await second.close(1000, "done")


async def test_the_closing_timeout_follows_the_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with intercept(URL) as server:
        ws = WebSocket(URL)
        seen = Recorder(ws)
        conn = await server.next_connection()
        await ws.wait_for("open")
        conn.stall()
        started = trio.current_time()
        ws.close()
        await seen.closed.wait()
        # Chromium's 60 s for the server's Close, in virtual time.
        assert trio.current_time() - started >= 60
    assert seen.events == [("open", ""), ("close", (1006, "", False))]


async def test_the_tcp_close_timeout_follows_the_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with intercept(URL) as server:
        ws = WebSocket(URL)
        seen = Recorder(ws)
        conn = await server.next_connection()
        await ws.wait_for("open")
        # The client's answer is never read and TCP never closed by the server:
        # the client closes TCP itself after Chromium's 2 s.
        conn.stall()
        started = trio.current_time()
        await conn.close(4000, "bye", timeout=10)
        await seen.closed.wait()
        assert trio.current_time() - started >= 2
    assert seen.events == [("open", ""), ("close", (4000, "bye", True))]


async def test_a_plain_with_block_refuses_to_block_trio() -> None:
    with intercept(URL) as server, pytest.raises(RuntimeError, match="inside trio use 'async with"):
        server.next_connection(timeout=1)


def test_a_plain_with_block_for_code_without_trio() -> None:
    """The test's waits block, serving this thread's w3cws loop meanwhile."""
    events: list[object] = []
    closed = threading.Event()
    with intercept(URL) as server:
        ws = WebSocket(URL)
        # The client's events run on this thread's loop, only while the test
        # waits, so no event can fire before its handler is set.
        ws.onmessage = lambda event: (
            events.append(event.data),
            ws.send(event.data.upper()),
            ws.close(1000, "thanks"),
        )
        ws.onclose = lambda event: (events.append(event.code), closed.set())
        conn = server.next_connection(timeout=TIMEOUT)
        conn.send("welcome")
        assert conn.next_message(timeout=TIMEOUT) == "WELCOME"
        conn.wait_closed(timeout=TIMEOUT)
        w3cws.run(until=closed.is_set, timeout=TIMEOUT)
        with pytest.raises(TimeoutError, match="no new connection"):
            server.next_connection(timeout=0.01)
    assert events == ["welcome", 1000]
    assert (conn.close_code, conn.close_reason) == (1000, "thanks")
    assert seam.routes == []


async def test_an_independent_client_speaks_to_the_fake_server() -> None:
    """The fake server's frames, as the websockets library's client reads them."""
    url = "ws://other.test/echo"
    with trio.fail_after(TIMEOUT):
        async with intercept(url, subprotocol=None) as server:
            stream = seam.routes[0](url)
            assert stream is not None
            client = ClientProtocol(parse_uri(url))
            request = client.connect()
            client.send_request(request)

            async def pump() -> list[object]:
                for data in client.data_to_send():
                    if data:
                        await stream.send_all(data)
                received = await stream.receive_some(65536)
                client.receive_data(received)
                return list(client.events_received())

            events = await pump()
            assert isinstance(events[0], Response) and events[0].status_code == 101
            conn = await server.next_connection()
            client.send_text(b"from websockets")
            await pump_out(client, stream)
            assert await conn.next_message() == "from websockets"
            conn.send(b"\x01\x02")
            client.receive_data(await stream.receive_some(65536))
            frames = list(client.events_received())
            assert frames == [Frame(Opcode.BINARY, b"\x01\x02")]
            client.send_close(1000, "done")
            await pump_out(client, stream)
            client.receive_data(await stream.receive_some(65536))
            assert client.close_rcvd == WsClose(1000, "done")
            assert await stream.receive_some(65536) == b""
            await stream.aclose()
    assert (conn.close_code, conn.close_reason) == (1000, "done")


async def pump_out(client: ClientProtocol, stream: trio.abc.Stream) -> None:
    for data in client.data_to_send():
        if data:
            await stream.send_all(data)


async def test_pass_through_to_the_real_server_with_changes_both_ways() -> None:
    behavior = Behavior(on_open=[Send("server hello"), Send("secret")])
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as real, intercept(real.url + "/*") as server:
            ws = WebSocket(real.url + "/feed", ["feed.v1"])
            seen = Recorder(ws)
            ws.onopen = lambda event: ws.send("before the server")
            ws.onmessage = lambda event: (
                seen.events.append(("message", event.data)),
                ws.send("hi") if event.data == "server hello!" else None,
                ws.close(3000, "enough") if event.data == "HI!" else None,
            )
            conn = await server.next_connection()
            await conn.connect_server(
                client_to_server=lambda message: message.upper(),  # type: ignore[union-attr]
                server_to_client=lambda message: None if message == "secret" else f"{message!s}!",
            )
            await seen.closed.wait()
            record = real.connections[0]
            await record.wait_closed()
    # The client saw the server's messages as changed (one dropped) ...
    assert ws.protocol == "feed.v1"
    assert seen.events == [
        ("message", "server hello!"),
        ("message", "BEFORE THE SERVER!"),  # the server echoes too
        ("message", "HI!"),
        ("close", (3000, "enough", True)),
    ]
    # ... and the server the client's, every one since it connected.
    assert record.path == "/feed"
    assert record.subprotocols == ["feed.v1"]
    assert record.messages == ["BEFORE THE SERVER", "HI"]
    assert (record.close_code, record.close_reason) == (3000, "enough")
    # The test watched both directions as they were sent.
    assert conn.messages == ["before the server", "hi"]
    assert conn.server_messages == ["server hello", "secret", "BEFORE THE SERVER", "HI"]


async def test_pass_through_server_close_and_loss_reach_the_client() -> None:
    behavior = Behavior(on_message=lambda record, message: [Close(4001, "server says bye")])
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as real, intercept(real.url + "/*") as server:
            ws = WebSocket(real.url + "/a")
            seen = Recorder(ws)
            conn = await server.next_connection()
            await conn.connect_server()
            ws.send("bye?")
            await seen.closed.wait()
            assert seen.events[-1] == ("close", (4001, "server says bye", True))

            ws = WebSocket(real.url + "/b")
            lost = Recorder(ws)
            conn = await server.next_connection()
            with pytest.raises(
                ConnectionError,
                match=re.escape("could not connect to the server at ws://127.0.0.1:1/"),
            ):
                await conn.connect_server("ws://127.0.0.1:1/")
            await lost.closed.wait()
    assert lost.events[-1] == ("close", (1006, "", False))


def test_pass_through_without_trio() -> None:
    closed = threading.Event()
    seen: list[object] = []
    with (
        ServerThread(Behavior(on_open=[Send("real")])) as real,
        intercept(real.url + "/*") as server,
    ):
        ws = WebSocket(real.url + "/sync")
        ws.onmessage = lambda event: (seen.append(event.data), ws.close())
        ws.onclose = lambda event: (seen.append(event.code), closed.set())
        conn = server.next_connection(timeout=TIMEOUT)
        conn.connect_server(server_to_client=lambda message: f"{message!s} (via the test)")
        w3cws.run(until=closed.is_set, timeout=TIMEOUT)
    assert seen == ["real (via the test)", 1005]


def test_leaving_a_plain_block_delivers_the_pass_through_close() -> None:
    # The pass-through to the real server is a socket of the script's thread:
    # leaving the block runs the loop until its close event is dispatched, so
    # the script ends with no event left undelivered (no exit warning).
    script = textwrap.dedent(
        """
        import threading
        import w3cws
        from w3cws import WebSocket
        from w3cws.testing import Behavior, Send, ServerThread, intercept

        closed = threading.Event()
        with (
            ServerThread(Behavior(on_open=[Send("real")])) as real,
            intercept(real.url + "/*") as server,
        ):
            ws = WebSocket(real.url + "/sync")
            ws.onmessage = lambda event: ws.close()
            ws.onclose = lambda event: closed.set()
            server.next_connection(timeout=5).connect_server()
            w3cws.run(until=closed.is_set, timeout=5)
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::w3cws.W3CWSWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert "never dispatched" not in done.stderr, done.stderr
