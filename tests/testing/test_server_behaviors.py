"""Each Behavior field and action of the test server, seen by an independent client.

Rules for these network tests: loopback only, port 0, every test under
``trio.fail_after(TIMEOUT)``, no sleep longer than about 0.3 s. The client is
the ``websockets`` library's synchronous client, run in a worker thread so the
server keeps running on the test's trio loop; every blocking client call has
its own timeout too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import pytest
import trio
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
)
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from w3cws.testing import (
    Behavior,
    Close,
    ConnectionRecord,
    Delay,
    Drop,
    Ping,
    Send,
    SendFragments,
    Stall,
    serve,
)

TIMEOUT = 5
T = TypeVar("T")


def connect(url: str, *, close_timeout: float = 1, **kwargs: Any) -> ClientConnection:
    """The websockets client with short timeouts and no keepalive pings."""
    client: ClientConnection = ws_connect(
        url, open_timeout=2, close_timeout=close_timeout, ping_interval=None, **kwargs
    )
    return client


def response_headers(ws: ClientConnection) -> Headers:
    assert ws.response is not None
    return ws.response.headers


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)


async def test_echo_text_and_binary() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> list[str | bytes]:
                with connect(server.url) as ws:
                    ws.send("héllo")
                    ws.send(b"\x00\xff")
                    return [ws.recv(timeout=2), ws.recv(timeout=2)]

            assert await in_thread(client) == ["héllo", b"\x00\xff"]
            record = server.connections[0]
            await record.wait_closed()
            assert record.messages == ["héllo", b"\x00\xff"]
            assert ("sent", "héllo") in record.events


async def test_on_open_sends_fragments_and_pings() -> None:
    behavior = Behavior(
        on_open=[
            Send("text"),
            Send(b"bin"),
            SendFragments(["frag", "men", "ted"]),
            SendFragments([b"\x01", b"\x02"]),
            Ping(b"abc"),
            Send("after ping"),
        ],
    )
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as server:

            def client() -> list[str | bytes]:
                with connect(server.url) as ws:
                    # The client answers the Ping before reading "after ping".
                    return [ws.recv(timeout=2) for _ in range(5)]

            expected = ["text", b"bin", "fragmented", b"\x01\x02", "after ping"]
            assert await in_thread(client) == expected
            record = server.connections[0]
            await record.wait_closed()
            assert record.pongs == [b"abc"]
            kinds = [kind for kind, _ in record.events]
            assert kinds.index("ping_sent") < kinds.index("pong")
            assert ("fragments_sent", ("frag", "men", "ted")) in record.events


def test_send_fragments_rejects_mixed_or_no_parts() -> None:
    with pytest.raises(ValueError, match="all be str"):
        SendFragments(["a", b"b"])
    with pytest.raises(ValueError, match="at least one"):
        SendFragments([])


async def test_server_close_with_code_and_reason() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Close(4000, "bye")])) as server:

            def client() -> tuple[int | None, str | None]:
                with connect(server.url) as ws, pytest.raises(ConnectionClosed):
                    ws.recv(timeout=2)
                return ws.close_code, ws.close_reason

            assert await in_thread(client) == (4000, "bye")
            record = server.connections[0]
            await record.wait_closed()
            # The client echoed the Close; the server closed TCP first (RFC 6455 §7.1.1).
            assert (record.close_code, record.close_reason) == (4000, "bye")
            assert record.close_received
            assert record.tcp_closed_by == "server"
            assert record.events[-3:] == [
                ("close_sent", (4000, "bye")),
                ("close", (4000, "bye")),
                ("tcp_closed", "server"),
            ]


async def test_server_close_with_empty_body() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Close(None)])) as server:

            def client() -> int | None:
                with connect(server.url) as ws, pytest.raises(ConnectionClosedOK):
                    ws.recv(timeout=2)
                return ws.close_code

            assert await in_thread(client) == 1005
            record = server.connections[0]
            await record.wait_closed()
            assert (record.close_code, record.close_reason) == (None, "")


def test_close_reason_needs_a_code() -> None:
    with pytest.raises(ValueError, match="needs a code"):
        Close(None, "why")


async def test_client_close_is_echoed() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> tuple[int | None, str | None]:
                with connect(server.url) as ws:
                    ws.close(4001, "client bye")
                return ws.close_code, ws.close_reason

            assert await in_thread(client) == (4001, "client bye")
            record = server.connections[0]
            await record.wait_closed()
            assert ("close_sent", (4001, "client bye")) in record.events
            assert record.tcp_closed_by == "server"


async def test_reject_with_status_body_and_headers() -> None:
    behavior = Behavior(reject=403, reject_body=b"nope", reject_headers=[("X-Why", "test")])
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as server:

            def client() -> InvalidStatus:
                with pytest.raises(InvalidStatus) as caught:
                    connect(server.url)
                return caught.value

            response = (await in_thread(client)).response
            assert response.status_code == 403
            assert response.body == b"nope"
            assert response.headers["X-Why"] == "test"
            record = server.connections[0]
            await record.wait_closed()
            assert ("rejected", 403) in record.events
            assert record.tcp_closed_by == "server"


@pytest.mark.parametrize(
    ("subprotocol", "offered", "expected"),
    [
        ("first", ["chat", "superchat"], "chat"),
        ("first", None, None),
        (None, ["chat"], None),
        ("superchat", ["chat", "superchat"], "superchat"),
    ],
)
async def test_subprotocol_selection(
    subprotocol: str | None, offered: list[str] | None, expected: str | None
) -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(subprotocol=subprotocol)) as server:

            def client() -> str | None:
                with connect(server.url, subprotocols=offered) as ws:
                    return ws.subprotocol

            assert await in_thread(client) == expected
            record = server.connections[0]
            assert record.subprotocols == (offered or [])
            assert record.selected_subprotocol == expected


async def test_forced_subprotocol_not_offered_fails_the_client() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(subprotocol="other")) as server:

            def client() -> None:
                with pytest.raises(InvalidHandshake):
                    connect(server.url, subprotocols=["chat"])

            await in_thread(client)
            assert server.connections[0].selected_subprotocol == "other"


@pytest.mark.parametrize("deflate", [True, False])
async def test_deflate_accepted_or_declined(deflate: bool) -> None:
    message = "compress me " * 100
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(deflate=deflate)) as server:

            def client() -> tuple[str | None, str | bytes]:
                with connect(server.url) as ws:  # websockets offers deflate by default
                    ws.send(message)
                    return response_headers(ws).get("Sec-WebSocket-Extensions"), ws.recv(timeout=2)

            extensions, echoed = await in_thread(client)
            assert echoed == message
            record = server.connections[0]
            assert record.extensions_offered.startswith("permessage-deflate")
            assert record.deflate_negotiated is deflate
            if deflate:
                assert extensions is not None
                assert extensions.startswith("permessage-deflate")
            else:
                assert extensions is None


async def test_extra_response_headers() -> None:
    behavior = Behavior(extra_response_headers=[("X-Test-Server", "yes")])
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as server:

            def client() -> str | None:
                with connect(server.url) as ws:
                    return response_headers(ws).get("X-Test-Server")

            assert await in_thread(client) == "yes"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
            InvalidHandshake,
        ),
        (b"garbage\r\n\r\n", InvalidMessage),
    ],
)
async def test_raw_response(raw: bytes, error: type[Exception]) -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(raw_response=raw)) as server:

            def client() -> None:
                with pytest.raises(error):
                    connect(server.url)

            await in_thread(client)
            record = server.connections[0]
            # The server keeps TCP open; the failing client closes it.
            await record.wait_closed()
            assert record.tcp_closed_by == "client"


async def test_handshake_delay() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(handshake_delay=0.3)) as server:

            def client() -> None:
                with connect(server.url):
                    pass

            start = trio.current_time()
            await in_thread(client)
            assert trio.current_time() - start >= 0.3


async def test_delay_between_actions() -> None:
    behavior = Behavior(on_open=[Send("a"), Delay(0.3), Send("b")])
    with trio.fail_after(TIMEOUT):
        async with serve(behavior) as server:

            def client() -> float:
                with connect(server.url) as ws:
                    ws.recv(timeout=2)
                    start = time.monotonic()
                    ws.recv(timeout=2)
                    return time.monotonic() - start

            assert await in_thread(client) >= 0.25


async def test_drop_closes_tcp_without_close_frame() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Send("x"), Drop(), Send("never")])) as server:

            def client() -> int | None:
                with connect(server.url) as ws:
                    assert ws.recv(timeout=2) == "x"
                    with pytest.raises(ConnectionClosedError):
                        ws.recv(timeout=2)
                    return ws.close_code

            assert await in_thread(client) == 1006
            record = server.connections[0]
            assert record.tcp_closed_by == "server"
            assert ("sent", "never") not in record.events


async def test_stall_reads_and_answers_nothing() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Stall()])) as server:

            def client() -> None:
                with connect(server.url, close_timeout=0.2) as ws:
                    ws.send("anyone?")
                    with pytest.raises(TimeoutError):
                        ws.recv(timeout=0.3)

            await in_thread(client)
            record = server.connections[0]
            assert record.messages == []
            assert record.tcp_closed_by is None  # not even the client's close is read
        assert record.tcp_closed_by == "server"


@pytest.mark.parametrize(("on_close", "closes_tcp"), [("stall", "client"), ("drop", "server")])
async def test_on_close_never_answers(on_close: Literal["stall", "drop"], closes_tcp: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_close=on_close)) as server:

            def client() -> None:
                # On "stall" the client gives up after close_timeout and closes TCP.
                with connect(server.url, close_timeout=0.3) as ws:
                    ws.close()
                assert ws.protocol.close_rcvd is None

            await in_thread(client)
            record = server.connections[0]
            await record.wait_closed()
            assert record.close_received
            assert not any(kind == "close_sent" for kind, _ in record.events)
            assert record.tcp_closed_by == closes_tcp


async def test_keep_tcp_open_after_close() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(keep_tcp_open_after_close=True)) as server:

            def client() -> int | None:
                # The client waits close_timeout for the server to close TCP,
                # then gives up and closes it itself.
                with connect(server.url, close_timeout=0.3) as ws:
                    ws.close(1000, "done")
                return ws.close_code

            assert await in_thread(client) == 1000
            record = server.connections[0]
            await record.wait_closed()
            assert ("close_sent", (1000, "done")) in record.events
            assert record.tcp_closed_by == "client"


async def test_echo_off() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(echo=False)) as server:

            def client() -> None:
                with connect(server.url) as ws:
                    ws.send("quiet")
                    with pytest.raises(TimeoutError):
                        ws.recv(timeout=0.2)

            await in_thread(client)
            assert server.connections[0].messages == ["quiet"]


async def test_on_message_hook_scripts_replies() -> None:
    def reply(record: ConnectionRecord, message: str | bytes) -> list[Send | Close]:
        if message == "bye":
            return [Close(4002, f"after {len(record.messages)}")]
        return [Send(f"got {message!r}")]

    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_message=reply)) as server:

            def client() -> tuple[str | bytes, int | None, str | None]:
                with connect(server.url) as ws:
                    ws.send(b"x")
                    answer = ws.recv(timeout=2)
                    ws.send("bye")
                    with pytest.raises(ConnectionClosed):
                        ws.recv(timeout=2)
                return answer, ws.close_code, ws.close_reason

            assert await in_thread(client) == ("got b'x'", 4002, "after 2")


async def test_on_message_exception_closes_with_1011() -> None:
    def broken(record: ConnectionRecord, message: str | bytes) -> list[Send]:
        raise RuntimeError("script bug")

    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_message=broken)) as server:

            def client() -> int | None:
                with connect(server.url) as ws:
                    ws.send("x")
                    with pytest.raises(ConnectionClosedError):
                        ws.recv(timeout=2)
                return ws.close_code

            assert await in_thread(client) == 1011
            record = server.connections[0]
            assert record.error is not None
            assert "script bug" in record.error


async def test_client_ping_is_answered_and_recorded() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> bool:
                with connect(server.url) as ws:
                    return ws.ping(b"hb").wait(2)

            assert await in_thread(client)
            assert ("ping", b"hb") in server.connections[0].events


async def test_routes_pick_behaviour_by_path() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            server.route("/a", Behavior(on_open=[Send("route a")], echo=False))

            def client(path: str) -> str | bytes:
                with connect(server.url + path) as ws:
                    ws.send("echo?")
                    return ws.recv(timeout=2)

            assert await in_thread(lambda: client("/a")) == "route a"
            assert await in_thread(lambda: client("/b")) == "echo?"
            # The query string is not part of the route's path.
            assert await in_thread(lambda: client("/a?send=query")) == "query"
            assert [record.path for record in server.connections] == ["/a", "/b", "/a?send=query"]
            with pytest.raises(ValueError, match="query"):
                server.route("/a?b=c", Behavior())


async def test_record_of_request() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> None:
                headers = {"X-Custom": "Some Value"}
                with connect(server.url + "/p/q", additional_headers=headers, compression=None):
                    pass

            await in_thread(client)
            record = server.connections[0]
            assert record.path == "/p/q"
            assert ("x-custom", "Some Value") in record.request_headers
            assert ("host", f"127.0.0.1:{server.port}") in record.request_headers
            assert record.extensions_offered == ""
            assert not record.deflate_negotiated
            assert record.events[:2] == [("request", "/p/q"), ("open", None)]
