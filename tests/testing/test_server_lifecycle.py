"""Server lifecycle and robustness: TLS, IPv6, the thread variant, bad clients, shutdown.

Same network rules as test_server_behaviors.py: loopback only, port 0, every
trio test under ``trio.fail_after(TIMEOUT)``. Clients that must misbehave are
a bare wsproto client on a trio TCP stream.
"""

from __future__ import annotations

import socket

import pytest
import trio
from websockets.exceptions import InvalidMessage
from websockets.sync.client import connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Request, TextMessage
from wsproto.frame_protocol import CloseReason

from w3cws.testing import Behavior, ConnectionRecord, Send, ServerThread, serve, tls_contexts

TIMEOUT = 5


class RawClient:
    """A bare wsproto client over trio TCP, able to send what a good client would not."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def open(cls, port: int, target: str = "/") -> RawClient:
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        await client.send(Request(host="127.0.0.1", target=target))
        events: list[Event] = []
        while not events:
            client.ws.receive_data(await client.stream.receive_some(65536))
            events = list(client.ws.events())
        assert isinstance(events[0], AcceptConnection)
        return client

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def receive_until_eof(self) -> list[Event]:
        events: list[Event] = []
        while data := await self.stream.receive_some(65536):
            self.ws.receive_data(data)
            events.extend(self.ws.events())
        return events


async def test_protocol_error_from_client_gets_1002_and_tcp_close() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            client = await RawClient.open(server.port)
            await client.stream.send_all(b"\x81\x02hi")  # unmasked: RFC 6455 §5.1 forbids it
            events = await client.receive_until_eof()
            assert [event.code for event in events if isinstance(event, CloseConnection)] == [1002]
            record = server.connections[0]
            await record.wait_closed()
            assert record.error is not None
            assert record.error.startswith("protocol error 1002")
            assert not record.close_received
            assert record.tcp_closed_by == "server"


async def test_empty_close_from_client_is_recorded_and_echoed_empty() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            client = await RawClient.open(server.port)
            await client.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
            events = await client.receive_until_eof()
            assert [event.code for event in events if isinstance(event, CloseConnection)] == [
                CloseReason.NO_STATUS_RCVD
            ]
            record = server.connections[0]
            assert (record.close_code, record.close_reason) == (None, "")
            assert ("close_sent", (None, "")) in record.events


async def test_client_dropping_tcp_ends_waits() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            client = await RawClient.open(server.port)
            await client.send(TextMessage(data="only one"))
            record = server.connections[0]
            await record.wait_messages(1)
            await client.stream.aclose()
            await record.wait_messages(2)  # returns: TCP closed before a second message
            assert record.messages == ["only one"]
            assert record.tcp_closed_by == "client"
            assert not record.close_received


async def test_bad_request_gets_400_and_the_server_carries_on() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            await stream.send_all(b"garbage\r\n\r\n")
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 400")
            assert await stream.receive_some(65536) == b""
            await stream.aclose()

            def client() -> str | bytes:
                with connect(server.url, open_timeout=2) as ws:
                    ws.send("still here")
                    return ws.recv(timeout=2)

            assert await trio.to_thread.run_sync(client, abandon_on_cancel=True) == "still here"
            assert server.connections[0].error is not None
            assert server.connections[1].error is None


async def test_connections_are_recorded_in_accept_order() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(reject=404)) as server:
            first = await trio.open_tcp_stream("127.0.0.1", server.port)
            await server.wait_for_connections(1)
            second = await trio.open_tcp_stream("127.0.0.1", server.port)
            await server.wait_for_connections(2)
            await first.send_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
            await first.aclose()
            await second.aclose()
            for record in server.connections:
                await record.wait_closed()
            # The first was rejected (not a WebSocket request); the second sent nothing.
            assert [record.path for record in server.connections] == ["", ""]
            assert ("rejected", 400) in server.connections[0].events
            assert server.connections[1].events == [("tcp_closed", "client")]


async def test_tls() -> None:
    server_context, client_context = tls_contexts()
    with trio.fail_after(TIMEOUT):
        async with serve(ssl_context=server_context) as server:
            assert server.url == f"wss://127.0.0.1:{server.port}"

            def client() -> str | bytes:
                with connect(server.url, ssl=client_context, open_timeout=2) as ws:
                    ws.send("secret")
                    return ws.recv(timeout=2)

            def plain_client() -> None:
                with pytest.raises(InvalidMessage):
                    connect(f"ws://127.0.0.1:{server.port}", open_timeout=2)

            assert await trio.to_thread.run_sync(client, abandon_on_cancel=True) == "secret"
            await trio.to_thread.run_sync(plain_client, abandon_on_cancel=True)
            plain = server.connections[1]
            await plain.wait_closed()
            assert plain.error is not None
            assert plain.error.startswith("TLS handshake failed")


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
async def test_ipv6_loopback() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(on_open=[Send("v6")]), host="::1") as server:
            assert server.url == f"ws://[::1]:{server.port}"

            def client() -> str | bytes:
                with connect(server.url, open_timeout=2) as ws:
                    return ws.recv(timeout=2)

            assert await trio.to_thread.run_sync(client, abandon_on_cancel=True) == "v6"


def all_tasks() -> list[trio.lowlevel.Task]:
    root = trio.lowlevel.current_root_task()
    assert root is not None
    tasks = [root]
    for task in tasks:  # grows while iterating: a breadth-first walk
        tasks.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return tasks


async def test_exit_closes_everything_and_leaves_no_tasks() -> None:
    before = all_tasks()
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            client = await RawClient.open(server.port)
            record = server.connections[0]
            assert len(all_tasks()) > len(before)
        # serve()'s nursery, its accept loop and the connection task are gone.
        assert all_tasks() == before
        assert record.tcp_closed_by == "server"
        await record.wait_closed()
        assert await client.stream.receive_some(65536) == b""
        await client.stream.aclose()
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", server.port)


async def test_exception_in_body_propagates_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with serve():
            raise KeyError("from the test")


async def close_within_timeout(record: ConnectionRecord) -> None:
    with trio.fail_after(TIMEOUT):
        await record.wait_closed()


def test_server_thread_from_sync_code() -> None:
    with ServerThread(Behavior(on_open=[Send("hi")])) as server:
        assert server.url == f"ws://127.0.0.1:{server.port}"
        server.route("/quiet", Behavior(echo=False))
        with connect(server.url, open_timeout=2) as ws:
            assert ws.recv(timeout=2) == "hi"
            ws.send("echo")
            assert ws.recv(timeout=2) == "echo"
        with connect(server.url + "/quiet", open_timeout=2) as ws:
            ws.send("unanswered")
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.2)
        server.wait_for_connections(2)
        for record in server.connections:
            server.call(close_within_timeout, record)
        assert [record.messages for record in server.connections] == [["echo"], ["unanswered"]]
        with pytest.raises(TimeoutError):
            server.wait_for_connections(3, timeout=0.1)


def test_server_thread_reports_startup_errors() -> None:
    with ServerThread() as server, pytest.raises(OSError):  # noqa: SIM117 - order matters
        with ServerThread(port=server.port):
            pass


async def test_wait_events_follows_a_connection_live() -> None:
    from w3cws import WebSocket

    async with serve() as server:
        ws = WebSocket(server.url)
        ws.onopen = lambda e: ws.send("hi")
        ws.onmessage = lambda e: ws.close()
        await server.wait_for_connections(1)
        record = server.connections[0]
        seen: list[str] = []
        with trio.fail_after(5):
            while not seen or seen[-1] != "tcp_closed":
                for kind, _ in record.events[len(seen) :]:
                    seen.append(kind)
                if seen[-1:] != ["tcp_closed"]:
                    await record.wait_events(len(seen))
    assert seen[0] == "request" and "message" in seen and seen[-1] == "tcp_closed"
