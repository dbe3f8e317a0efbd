"""The WebSocket lifecycle against the independent ``websockets`` server.

Each test asserts the exact event trace: (type, readyState at dispatch, ...).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trio

from w3cws import Blob, InvalidStateError, W3CWSWarning, WebSocket

from .conftest import (
    Trace,
    WebsocketsPeer,
    open_sockets,
    raw_server,
    read_request,
    sockets_back_to,
    trace,
)


async def test_open_echo_close_trace(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.binaryType = "arraybuffer"

    def on_open(_: object) -> None:
        ws.send("hello")
        ws.send(b"\x00\xff")

    def on_message(event: object) -> None:
        if len(t.messages) == 2:
            ws.close(4000, "done")

    ws.onopen = on_open
    ws.onmessage = on_message
    await t.wait_closed()
    origin = websockets_peer.url
    assert t.events == [
        ("open", 1),
        ("message", 1, "hello"),
        ("message", 1, b"\x00\xff"),
        ("close", 3, 4000, "done", True),
    ]
    assert ws.readyState == WebSocket.CLOSED
    assert ws.bufferedAmount == 0
    record = await websockets_peer.record()
    assert record["messages"] == ["hello", b"\x00\xff"]
    assert record["close"] == (4000, "done")
    assert origin.startswith("ws://127.0.0.1:")


async def test_large_messages_echo_whole_and_in_order(websockets_peer: WebsocketsPeer) -> None:
    # Messages larger than a write piece are masked and written a piece at a
    # time: sent from open (the writer task) and from a message listener
    # (the reader's own write), between small ones, they come back whole.
    big = bytes(range(256)) * 3000 + b"!"  # 750 KiB (the peer takes 1 MiB), odd size
    text = "é✓" * 50_001
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.binaryType = "arraybuffer"

    def on_open(_: object) -> None:
        ws.send(b"a")
        ws.send(big)
        ws.send("b")

    def on_message(event: object) -> None:
        if len(t.messages) == 3:
            ws.send(text)
            ws.send(b"c")
        elif len(t.messages) == 5:
            ws.close(1000)

    ws.onopen = on_open
    ws.onmessage = on_message
    await t.wait_closed(timeout=20)
    assert t.messages == [b"a", big, "b", text, b"c"]
    assert t.close == ("close", 3, 1000, "", True)
    assert ws.bufferedAmount == 0


async def test_message_event_fields(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/send/hi")
    seen: list[tuple[object, ...]] = []
    done = trio.Event()

    def on_message(event: object) -> None:
        seen.append(
            (
                event.data,  # type: ignore[attr-defined]
                event.origin,  # type: ignore[attr-defined]
                event.lastEventId,  # type: ignore[attr-defined]
                event.source,  # type: ignore[attr-defined]
                event.ports,  # type: ignore[attr-defined]
                event.isTrusted,  # type: ignore[attr-defined]
                event.bubbles,  # type: ignore[attr-defined]
                event.cancelable,  # type: ignore[attr-defined]
            )
        )
        ws.close()

    ws.onmessage = on_message
    ws.onclose = lambda e: done.set()
    with trio.fail_after(5):
        await done.wait()
    assert seen == [("hi", websockets_peer.url, "", None, [], True, False, False)]


async def test_no_event_inside_constructor_send_close(websockets_peer: WebsocketsPeer) -> None:
    calls: list[str] = []
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.addEventListener("open", lambda e: calls.append("open"))
    ws.addEventListener("message", lambda e: calls.append("message"))
    ws.addEventListener("close", lambda e: calls.append("close"))
    assert calls == [] and ws.readyState == WebSocket.CONNECTING
    await t.wait_open()
    before = list(calls)
    ws.send("x")
    assert calls == before
    ws.close()
    assert calls == before and ws.readyState == WebSocket.CLOSING
    await t.wait_closed()
    assert calls == ["open", "close"]  # the echo arrived after close(): dropped


async def test_send_while_connecting_raises(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    try:
        ws.send("too early")
    except InvalidStateError as exc:
        assert exc.name == "InvalidStateError" and exc.code == 11
    else:
        raise AssertionError("send() while CONNECTING must raise")
    assert ws.bufferedAmount == 0
    ws.close()
    await t.wait_closed()


async def test_binary_type_read_at_dispatch(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    got: list[object] = []

    def on_open(_: object) -> None:
        ws.send(b"one")
        ws.send(b"two")

    def on_message(event: object) -> None:
        got.append(event.data)  # type: ignore[attr-defined]
        ws.binaryType = "arraybuffer"  # affects the next, already received message
        if len(got) == 2:
            ws.close()

    ws.onopen = on_open
    ws.onmessage = on_message
    await t.wait_closed()
    assert isinstance(got[0], Blob) and got[0].type == ""
    assert await got[0].arrayBuffer() == b"one"
    assert got[1] == b"two"


async def test_binary_type_rejects_other_values(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    assert ws.binaryType == "blob"
    with pytest.warns(W3CWSWarning, match="'text' is ignored"):
        ws.binaryType = "text"
    assert ws.binaryType == "blob"
    ws.binaryType = "arraybuffer"
    with pytest.warns(W3CWSWarning, match="'Blob' is ignored"):
        ws.binaryType = "Blob"
    assert ws.binaryType == "arraybuffer"
    ws.close()
    await t.wait_closed()


async def test_fragmented_messages_reassembled(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/fragments")
    ws.binaryType = "arraybuffer"
    t = trace(ws)
    ws.onmessage = lambda e: ws.close() if len(t.messages) == 2 else None
    await t.wait_closed()
    assert t.messages == ["fragmented", b"\x00\x01\x02"]


async def test_ping_answered_invisibly(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/ping")
    t = trace(ws)
    ws.onopen = lambda e: ws.send("after ping")
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    assert t.types == ["open", "message", "close"]
    assert (await websockets_peer.record())["pongs"] == 1


async def test_server_initiated_close(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/close/4321/server says bye")
    t = trace(ws)
    await t.wait_closed()
    assert t.events == [("open", 1), ("close", 3, 4321, "server says bye", True)]
    # The client echoed the server's code and reason (RFC 6455 §5.5.1).
    assert (await websockets_peer.record())["close"] == (4321, "server says bye")


async def test_close_reason_only_sends_1000(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.onopen = lambda e: ws.close(reason="just a reason")
    await t.wait_closed()
    assert (await websockets_peer.record())["close"] == (1000, "just a reason")
    assert t.close == ("close", 3, 1000, "just a reason", True)


async def test_close_without_arguments_sends_empty_body(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.onopen = lambda e: ws.close()
    await t.wait_closed()
    # An empty Close body reads as 1005 on both sides (RFC 6455 §7.1.5).
    assert (await websockets_peer.record())["close"] == (1005, "")
    assert t.close == ("close", 3, 1005, "", True)


async def test_close_while_connecting_fails(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    await t.wait_closed()
    assert t.events == [("error", 3), ("close", 3, 1006, "", False)]


async def test_buffered_amount(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    seen: list[int] = []

    def on_open(_: object) -> None:
        ws.send("abc")  # 3
        ws.send("é€")  # 2 + 3 UTF-8 bytes
        ws.send(bytearray(4))
        ws.send(memoryview(b"123456")[1:3])  # the view's bytes only
        ws.send(Blob(["xyz"]))
        seen.append(ws.bufferedAmount)

    def on_message(_: object) -> None:
        if len(t.messages) == 5:
            before = ws.bufferedAmount
            ws.close()
            ws.send("late")  # CLOSING: not sent, still counted
            seen.append(ws.bufferedAmount - before)

    ws.onopen = on_open
    ws.onmessage = on_message
    ws.onclose = lambda e: seen.append(ws.bufferedAmount)
    await t.wait_closed()
    ws.send(b"after close")
    # Everything sent before close() was handed to the network; "late" stays.
    assert seen == [3 + 5 + 4 + 2 + 3, 4, 4]
    assert ws.bufferedAmount == 4 + 11
    assert len((await websockets_peer.record())["messages"]) == 5


async def test_sends_keep_call_order_with_blobs(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    ws.binaryType = "arraybuffer"
    t = trace(ws)

    def on_open(_: object) -> None:
        ws.send("1")
        ws.send(Blob([b"2", "2"]))
        ws.send(b"3")
        ws.send(Blob(["4"]).slice(0, 1))

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close() if len(t.messages) == 4 else None
    await t.wait_closed()
    assert t.messages == ["1", b"22", b"3", b"4"]


async def test_bytearray_copied_at_send(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    ws.binaryType = "arraybuffer"
    t = trace(ws)
    buf = bytearray(b"before")

    def on_open(_: object) -> None:
        ws.send(buf)
        buf[:] = b"AFTER!"

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    assert t.messages == [b"before"]


async def test_lone_surrogates_sent_as_replacement(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    ws.onopen = lambda e: ws.send("a\ud800b")
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    assert t.messages == ["a\ufffdb"]


class Text(str):
    pass


class Data(bytes):
    pass


async def test_send_converts_str_and_bytes_subclasses(websockets_peer: WebsocketsPeer) -> None:
    # send() takes the exact types on a shorter path; subclasses take the long one.
    ws = WebSocket(websockets_peer.url + "/echo")
    ws.binaryType = "arraybuffer"
    t = trace(ws)
    seen: list[int] = []

    def on_open(_: object) -> None:
        ws.send(Text("abc"))
        ws.send(Text("é\ud800"))  # 2 + 3 UTF-8 bytes (U+FFFD)
        ws.send(Data(b"xy"))
        ws.send("€\ud800")  # 3 + 3
        seen.append(ws.bufferedAmount)

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close() if len(t.messages) == 4 else None
    await t.wait_closed()
    assert seen == [3 + 5 + 2 + 6]
    assert t.messages == ["abc", "é\ufffd", b"xy", "€\ufffd"]
    assert ws.bufferedAmount == 0


async def test_send_type_error(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    errors: list[BaseException] = []

    def on_open(_: object) -> None:
        for bad in (None, 12, ["x"], {"a": 1}):
            try:
                ws.send(bad)  # type: ignore[arg-type]
            except TypeError as exc:
                errors.append(exc)
        ws.close()

    ws.onopen = on_open
    await t.wait_closed()
    assert len(errors) == 4
    assert ws.bufferedAmount == 0


async def test_listener_exception_does_not_stop_connection(
    websockets_peer: WebsocketsPeer, caplog: object
) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    ws.addEventListener("open", broken)
    ws.addEventListener("open", lambda e: ws.send("still works"))
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    assert t.messages == ["still works"]
    assert "listener bug" in caplog.text  # type: ignore[attr-defined]


async def test_async_listener_runs_as_task(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    t = trace(ws)
    order: list[str] = []

    async def on_open(_: object) -> None:
        order.append("async start")
        await trio.sleep(0)
        ws.send("from async")

    ws.addEventListener("open", on_open)
    ws.addEventListener("open", lambda e: order.append("sync after"))
    ws.onmessage = lambda e: ws.close()
    await t.wait_closed()
    assert order == ["sync after", "async start"]
    assert t.messages == ["from async"]


async def test_protocol_and_extensions(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo", ["chat", "superchat"])
    t = trace(ws)
    seen: list[tuple[str, str]] = []
    assert (ws.protocol, ws.extensions) == ("", "")

    def on_open(_: object) -> None:
        seen.append((ws.protocol, ws.extensions))
        ws.close()

    ws.onopen = on_open
    await t.wait_closed()
    assert seen[0][0] == "chat"
    assert seen[0][1].startswith("permessage-deflate")
    headers = dict((k.lower(), v) for k, v in (await websockets_peer.record())["headers"])
    assert headers["sec-websocket-protocol"] == "chat, superchat"
    assert headers["sec-websocket-extensions"] == "permessage-deflate; client_max_window_bits"
    assert headers["user-agent"].startswith("w3cws")
    assert (ws.protocol, ws.extensions) == seen[0]  # never reset


async def test_compression_both_ways(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo")
    ws.binaryType = "arraybuffer"
    t = trace(ws)
    big = "w3cws " * 20000
    ws.onopen = lambda e: (ws.send(big), ws.send(big.encode()))
    ws.onmessage = lambda e: ws.close() if len(t.messages) == 2 else None
    await t.wait_closed()
    assert t.messages == [big, big.encode()]
    assert (await websockets_peer.record())["messages"] == [big, big.encode()]


async def test_deflate_can_be_turned_off(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(websockets_peer.url + "/echo", deflate=False)
    t = trace(ws)
    ws.onopen = lambda e: ws.close()
    await t.wait_closed()
    assert ws.extensions == ""
    headers = dict((k.lower(), v) for k, v in (await websockets_peer.record())["headers"])
    assert "sec-websocket-extensions" not in headers


async def test_extra_headers_and_origin(websockets_peer: WebsocketsPeer) -> None:
    ws = WebSocket(
        websockets_peer.url + "/echo",
        headers={"X-Test": "yes", "User-Agent": "custom"},
        origin="https://example.test",
    )
    t = trace(ws)
    ws.onopen = lambda e: ws.close()
    await t.wait_closed()
    headers = [(k.lower(), v) for k, v in (await websockets_peer.record())["headers"]]
    assert ("x-test", "yes") in headers
    assert ("origin", "https://example.test") in headers
    assert [v for k, v in headers if k == "user-agent"] == ["custom"]


async def test_header_values_are_normalized() -> None:
    # Fetch "normalize": leading and trailing spaces and tabs are not sent.
    # (Read raw: a server's parser would strip them anyway.)
    requests: list[bytes] = []

    async def handler(stream: trio.SocketStream) -> None:
        requests.append(await read_request(stream))
        await stream.aclose()

    async with raw_server(handler) as url:
        ws = WebSocket(url, headers=[("X-Padded", " \tx y\t ")], origin=" https://o.test ")
        await trace(ws).wait_closed()
    lines = requests[0].split(b"\r\n")
    assert b"X-Padded: x y" in lines
    assert b"Origin: https://o.test" in lines


async def test_many_sockets_then_no_leaked_fds(websockets_peer: WebsocketsPeer) -> None:
    await trio.testing.wait_all_tasks_blocked()
    before = open_sockets()
    traces = []
    for i in range(20):
        ws = WebSocket(websockets_peer.url + "/echo")
        t = trace(ws)
        ws.onopen = lambda e, ws=ws, i=i: ws.send(f"n{i}")
        ws.onmessage = lambda e, ws=ws: ws.close()
        traces.append(t)
    for t in traces:
        await t.wait_closed()
    assert [t.messages for t in traces] == [[f"n{i}"] for i in range(20)]
    assert all(t.close[4] for t in traces)
    for i in range(20):
        await websockets_peer.record(i)
    await trio.testing.wait_all_tasks_blocked()
    assert await sockets_back_to(before) <= before


class OneNameResolver(trio.abc.HostnameResolver):
    """DNS that knows one name, ``name.test``, as 127.0.0.1, and records each question."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.asked.append(name)
        if name != "name.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    async def getnameinfo(self, sockaddr: Any, flags: int) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def echo_once(url: str, resolver: trio.abc.HostnameResolver, text: str) -> Trace:
    """Open ``url`` with ``resolver`` as trio's DNS, send ``text``, close at its echo."""
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    try:
        ws = WebSocket(url)
        t = trace(ws)
        ws.onopen = lambda e: ws.send(text)
        ws.onmessage = lambda e: ws.close()
        await t.wait_closed()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    return t


async def test_a_host_name_goes_through_dns(websockets_peer: WebsocketsPeer) -> None:
    # The name is resolved (trio's happy eyeballs), then the socket is used
    # as directly as for an IP literal.
    resolver = OneNameResolver()
    url = f"ws://name.test:{websockets_peer.port}/echo"
    t = await echo_once(url, resolver, "via dns")
    assert t.messages == ["via dns"]
    assert t.close[4] is True
    assert resolver.asked == ["name.test"]


@pytest.mark.parametrize("name", ["localhost", "app.localhost", "LocalHost", "localhost."])
async def test_localhost_names_are_loopback_without_dns(
    websockets_peer: WebsocketsPeer, name: str
) -> None:
    # As in browsers (RFC 6761 §6.3): no DNS question, even for a name DNS
    # would not know; the server listens on 127.0.0.1 only, so ::1 is
    # refused first; the Host header keeps the name as the URL parser wrote it.
    resolver = OneNameResolver()
    t = await echo_once(f"ws://{name}:{websockets_peer.port}/echo", resolver, "local")
    assert t.messages == ["local"]
    assert t.close[4] is True
    assert resolver.asked == []
    headers = dict((await websockets_peer.record())["headers"])
    assert headers["Host"] == f"{name.lower()}:{websockets_peer.port}"
