"""The engine issue's items against our own server, ``w3cws.testing``.

The same behaviours are checked against the independent ``websockets``
server in test_ws_lifecycle.py and against raw servers in
test_ws_failures.py; here the server records what the client put on the wire.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from w3cws import Blob, WebSocket
from w3cws.testing import (
    Behavior,
    Close,
    Delay,
    Drop,
    Ping,
    Send,
    SendFragments,
    Server,
    serve,
    tls_contexts,
)

from .conftest import open_fds, trace

FAIL = [("error", 3), ("close", 3, 1006, "", False)]


@pytest.fixture
async def server() -> Server:  # type: ignore[misc]
    async with serve() as s:
        yield s


async def test_handshake_request_is_what_a_browser_sends(server: Server) -> None:
    ws = WebSocket(server.url + "/path?q=1", ["chat", "v2.chat"], origin="http://page.test")
    t = trace(ws)
    ws.onopen = lambda e: ws.close()
    await t.wait_closed()
    record = server.connections[0]
    headers = dict(record.request_headers)
    assert record.path == "/path?q=1"
    assert headers["host"] == server.url.removeprefix("ws://")
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "Upgrade"
    assert headers["sec-websocket-version"] == "13"
    assert headers["sec-websocket-protocol"] == "chat, v2.chat"
    assert headers["sec-websocket-extensions"] == "permessage-deflate; client_max_window_bits"
    assert headers["origin"] == "http://page.test"
    assert headers["user-agent"].startswith("w3cws")
    assert headers["cache-control"] == headers["pragma"] == "no-cache"


async def test_open_fills_protocol_and_extensions(server: Server) -> None:
    ws = WebSocket(server.url, ["chat", "other"])
    t = trace(ws)
    seen: list[tuple[int, str, str]] = []

    def on_open(_: object) -> None:
        seen.append((ws.readyState, ws.protocol, ws.extensions))
        ws.close()

    ws.onopen = on_open
    await t.wait_closed()
    state, protocol, extensions = seen[0]
    assert (state, protocol) == (WebSocket.OPEN, "chat")
    assert extensions.startswith("permessage-deflate")
    assert server.connections[0].deflate_negotiated


async def test_deflate_declined_by_server() -> None:
    async with serve(Behavior(deflate=False)) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        ws.onopen = lambda e: ws.close()
        await t.wait_closed()
    assert ws.extensions == ""
    assert t.close == ("close", 3, 1005, "", True)


async def test_server_forcing_a_protocol_fails() -> None:
    async with serve(Behavior(subprotocol="unoffered")) as server:
        ws = WebSocket(server.url, ["chat"])
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


async def test_server_selecting_none_when_requested_fails() -> None:
    async with serve(Behavior(subprotocol=None)) as server:
        ws = WebSocket(server.url, "chat")
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
async def test_rejected_handshake_fails(status: int) -> None:
    async with serve(Behavior(reject=status)) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


async def test_messages_of_every_shape_arrive_in_order() -> None:
    behavior = Behavior(
        on_open=[
            Send("text"),
            Send(b"\x00binary"),
            SendFragments(["frag", "ment", "ed"]),
            SendFragments([b"\x01", b"\x02"]),
            Ping(b"are you there"),
            Send("é€😀"),
            Close(4001, "scripted"),
        ]
    )
    async with serve(behavior) as server:
        ws = WebSocket(server.url)
        ws.binaryType = "arraybuffer"
        t = trace(ws)
        await t.wait_closed()
        record = server.connections[0]
        await record.wait_closed()
    assert t.events == [
        ("open", 1),
        ("message", 1, "text"),
        ("message", 1, b"\x00binary"),
        ("message", 1, "fragmented"),
        ("message", 1, b"\x01\x02"),
        ("message", 1, "é€😀"),
        ("close", 3, 4001, "scripted", True),
    ]
    assert record.pongs == [b"are you there"]
    assert (record.close_code, record.close_reason) == (4001, "scripted")


async def test_blob_messages_by_default(server: Server) -> None:
    ws = WebSocket(server.url)
    t = trace(ws)
    ws.onopen = lambda e: ws.send(b"\xffblob")
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    (blob,) = t.messages
    assert isinstance(blob, Blob)
    assert (blob.size, blob.type, await blob.bytes()) == (5, "", b"\xffblob")


async def test_echo_records_types_and_close(server: Server) -> None:
    ws = WebSocket(server.url)
    ws.binaryType = "arraybuffer"
    t = trace(ws)

    def on_open(_: object) -> None:
        ws.send("one")
        ws.send(b"two")
        ws.send(Blob(["three"]))
        ws.send("")

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close(3001) if len(t.messages) == 4 else None
    await t.wait_closed()
    record = server.connections[0]
    await record.wait_closed()
    assert record.messages == ["one", b"two", b"three", ""]
    assert t.messages == ["one", b"two", b"three", ""]
    assert (record.close_code, record.close_reason) == (3001, "")
    assert record.tcp_closed_by == "server"
    assert t.close == ("close", 3, 3001, "", True)


async def test_messages_after_close_are_not_dispatched() -> None:
    behavior = Behavior(on_open=[Send(f"m{i}") for i in range(50)])
    async with serve(behavior) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        ws.onmessage = lambda e: ws.close() if e.data == "m2" else None  # type: ignore[attr-defined]
        await t.wait_closed()
    assert t.messages == ["m0", "m1", "m2"]
    assert t.types[-1] == "close"


async def test_server_close_without_code_is_1005() -> None:
    async with serve(Behavior(on_open=[Close(None)])) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_closed()
        record = server.connections[0]
        await record.wait_closed()
    assert t.events == [("open", 1), ("close", 3, 1005, "", True)]
    assert record.close_received and record.close_code is None


async def test_readystate_closing_on_server_close() -> None:
    behavior = Behavior(on_open=[Send("before"), Close(4000, "bye")])
    async with serve(behavior) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        states: list[int] = []
        ws.onmessage = lambda e: states.append(ws.readyState)
        await t.wait_closed()
    assert states == [WebSocket.OPEN]
    assert t.close == ("close", 3, 4000, "bye", True)


async def test_drop_is_close_1006_without_error() -> None:
    async with serve(Behavior(on_open=[Send("x"), Drop()])) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_closed()
    assert t.events == [("open", 1), ("message", 1, "x"), ("close", 3, 1006, "", False)]


async def test_stalled_close_times_out_after_60s(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0.1
    async with serve(Behavior(on_close="stall")) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_open()
        ws.close(1000, "hello?")
        start = trio.current_time()
        await t.wait_closed(timeout=120)
        assert 60 <= trio.current_time() - start < 61
        record = server.connections[0]
    assert t.events == [("open", 1), ("close", 3, 1006, "", False)]
    assert (record.close_code, record.close_reason) == (1000, "hello?")


async def test_tcp_kept_open_after_close_handshake(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0.1
    async with serve(Behavior(keep_tcp_open_after_close=True)) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_open()
        ws.close(4002)
        start = trio.current_time()
        await t.wait_closed(timeout=60)
        assert 2 <= trio.current_time() - start < 3
    assert t.events == [("open", 1), ("close", 3, 4002, "", True)]


async def test_server_closing_tcp_after_the_close_handshake_ends_it_at_once(
    mock_clock: trio.testing.MockClock,
) -> None:
    # RFC 6455 §7.1.1: the server closes TCP first; the client takes its end
    # (usually there with the server's Close already) without the 2 s timer.
    mock_clock.autojump_threshold = 0
    async with serve() as server:
        for code in (1000, 4001):
            ws = WebSocket(server.url)
            t = trace(ws)
            await t.wait_open()
            ws.close(code)
            start = trio.current_time()
            await t.wait_closed()
            assert trio.current_time() == start
            record = server.connections[-1]
            await record.wait_closed()
            assert record.tcp_closed_by == "server"
            assert t.events == [("open", 1), ("close", 3, code, "", True)]


async def test_close_before_the_connection_task_ran_connects_nowhere(server: Server) -> None:
    # WS §3.1 close() step 3 while CONNECTING, before the engine's task has
    # even started: the attempt is given up before any TCP connection.
    ws = WebSocket(server.url)
    t = trace(ws)
    ws.close()
    await t.wait_closed()
    assert t.events == FAIL
    assert server.connections == []


async def test_close_while_connecting_sends_nothing() -> None:
    async with serve(Behavior(handshake_delay=0.2)) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await server.wait_for_connections(1)
        ws.close(1000)
        await t.wait_closed()
        record = server.connections[0]
        await record.wait_closed()
    assert t.events == FAIL
    assert record.messages == [] and not record.close_received


async def test_buffered_amount_drains_as_data_leaves(server: Server) -> None:
    ws = WebSocket(server.url)
    t = trace(ws)
    seen: list[int] = []

    def on_open(_: object) -> None:
        ws.send(b"x" * 100_000)
        ws.send("y" * 1000)
        seen.append(ws.bufferedAmount)

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close() if len(t.messages) == 2 else None
    await t.wait_closed()
    assert seen == [101_000]
    assert ws.bufferedAmount == 0


async def test_delayed_server_actions_keep_order() -> None:
    behavior = Behavior(on_open=[Send("a"), Delay(0.05), Send("b"), Close(1000)])
    async with serve(behavior) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_closed()
    assert t.messages == ["a", "b"]


async def test_wss_with_test_certificate() -> None:
    server_ctx, client_ctx = tls_contexts()
    async with serve(ssl_context=server_ctx) as server:
        assert server.url.startswith("wss://")
        ws = WebSocket(server.url, ssl_context=client_ctx)
        t = trace(ws)
        ws.onopen = lambda e: ws.send("over tls")
        ws.onmessage = lambda e: ws.close()
        await t.wait_closed()
    assert t.events == [("open", 1), ("message", 1, "over tls"), ("close", 3, 1005, "", True)]


async def test_wss_default_context_rejects_test_certificate() -> None:
    server_ctx, _ = tls_contexts()
    async with serve(ssl_context=server_ctx) as server:
        ws = WebSocket(server.url)
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


@pytest.mark.parametrize("host", ["[::1]", "app.localhost"])
async def test_a_server_on_ipv6_loopback_only(host: str) -> None:
    # By address, or by a localhost name: browsers try ::1 first for those
    # (RFC 6761 §6.3), and nothing listens on 127.0.0.1 here.
    try:
        async with serve(host="::1") as server:
            ws = WebSocket(f"ws://{host}:{server.port}/")
            t = trace(ws)
            ws.onopen = lambda e: ws.send("v6")
            ws.onmessage = lambda e: ws.close()
            await t.wait_closed()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    assert t.messages == ["v6"]
    assert t.events[-1] == ("close", 3, 1005, "", True)
    assert ("host", f"{host}:{server.port}") in server.connections[0].request_headers


async def test_nursery_keyword_and_no_leaks(server: Server) -> None:
    await trio.testing.wait_all_tasks_blocked()
    before = open_fds()
    async with trio.open_nursery() as nursery:
        ws = WebSocket(server.url, nursery=nursery)
        t = trace(ws)
        ws.onopen = lambda e: ws.close()
        await t.wait_closed()
    await trio.testing.wait_all_tasks_blocked()
    assert open_fds() <= before
    assert t.types == ["open", "close"]


async def test_nursery_cancelled_discards_socket(server: Server) -> None:
    async with trio.open_nursery() as nursery:
        ws = WebSocket(server.url, nursery=nursery)
        t = trace(ws)
        await t.wait_open()
        nursery.cancel_scope.cancel()
    record = server.connections[0]
    await record.wait_closed()
    assert ws.readyState == WebSocket.CLOSED
    assert t.types == ["open"]  # no events after the host went away
    assert record.close_code == 1001
