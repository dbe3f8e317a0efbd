"""FaultProxy between real clients and a real server, over loopback.

Both w3cws's client and the ``websockets`` library's client go through the
proxy to w3cws's test server (and to a ``websockets`` server), so the faults
are seen the same way by independent implementations. Latencies stay tiny
(real sockets cannot run on a mock clock) and no test asserts a duration.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest
import trio
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect
from websockets.sync.server import serve as websockets_serve

from w3cws import WebSocket
from w3cws.testing import Behavior, FaultProxy, Send, serve, tls_contexts

TIMEOUT = 10
MESSAGES = [f"message {n:03}" for n in range(100)]


async def w3cws_echo_all(
    url: str, messages: list[str], *, one_by_one: bool = False
) -> tuple[list[object], tuple[object, ...]]:
    """Send ``messages`` with w3cws's client, collect the echoes, close; return what it saw.

    All at once, or ``one_by_one``: each after the echo of the one before.
    """
    ws = WebSocket(url)
    received: list[object] = []
    closed = trio.Event()
    ending: list[tuple[object, ...]] = []

    def on_message(event: object) -> None:
        received.append(event.data)  # type: ignore[attr-defined]
        if len(received) == len(messages):
            ws.close(1000, "all back")
        elif one_by_one:
            ws.send(messages[len(received)])

    def on_close(event: object) -> None:
        ending.append((event.code, event.reason, event.wasClean))  # type: ignore[attr-defined]
        closed.set()

    ws.onopen = lambda event: [
        ws.send(message) for message in messages[: 1 if one_by_one else None]
    ]
    ws.onmessage = on_message
    ws.onclose = on_close
    await closed.wait()
    return received, ending[0]


def websockets_echo_all(url: str, messages: list[str]) -> list[str | bytes]:
    with connect(url, open_timeout=5, close_timeout=5, ping_interval=None) as ws:
        for message in messages:
            ws.send(message)
        return [ws.recv(timeout=5) for _ in messages]


async def test_100_messages_through_one_byte_segments_and_latency() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server, FaultProxy(server.url, chunk_size=1, latency=0.02) as proxy:
            received, ending = await w3cws_echo_all(proxy.url + "/echo", MESSAGES)
            assert received == MESSAGES
            assert ending == (1000, "all back", True)
            echoed = await trio.to_thread.run_sync(websockets_echo_all, proxy.url, MESSAGES)
            assert echoed == MESSAGES
            assert proxy.connections == 2
    # The server saw every message in order, from both clients.
    assert [record.messages for record in server.connections] == [MESSAGES, MESSAGES]
    assert server.connections[0].path == "/echo"


async def test_an_independent_server_behind_the_proxy() -> None:
    def echo(connection: object) -> None:
        for message in connection:  # type: ignore[attr-defined]
            connection.send(message)  # type: ignore[attr-defined]

    with websockets_serve(echo, "127.0.0.1", 0) as ws_server:
        port = ws_server.socket.getsockname()[1]
        serve_forever = functools.partial(
            trio.to_thread.run_sync, ws_server.serve_forever, abandon_on_cancel=True
        )
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve_forever)
                async with FaultProxy(
                    f"ws://127.0.0.1:{port}", chunk_size=3, latency=0.01
                ) as proxy:
                    received, ending = await w3cws_echo_all(proxy.url, MESSAGES[:20])
                ws_server.shutdown()
        assert received == MESSAGES[:20]
        assert ending == (1000, "all back", True)


async def test_tls_passes_through_as_bytes() -> None:
    server_context, client_context = tls_contexts()
    with trio.fail_after(TIMEOUT):
        async with (
            serve(ssl_context=server_context) as server,
            FaultProxy(server.url + "/secure?echo=1", chunk_size=5, latency=0.001) as proxy,
        ):
            assert proxy.url.startswith("wss://127.0.0.1:")
            assert proxy.url.endswith("/secure?echo=1")
            ws = WebSocket(proxy.url, ssl_context=client_context)
            received: list[object] = []
            ws.onopen = lambda event: ws.send("over TLS")
            ws.onmessage = lambda event: (received.append(event.data), ws.close())
            close = await ws.wait_for("close")
    assert received == ["over TLS"]
    assert close.wasClean  # type: ignore[attr-defined]
    assert server.connections[0].path == "/secure?echo=1"


async def test_reset_after_gives_close_1006() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server, FaultProxy(server.url, reset_after=1000) as proxy:
            # The handshakes fit in 1000 bytes; the echoes do not.
            received, ending = await w3cws_echo_all(proxy.url, MESSAGES, one_by_one=True)
            assert ending == (1006, "", False)
            assert 0 < len(received) < len(MESSAGES)

            def websockets_client() -> type[BaseException]:
                with pytest.raises(ConnectionClosedError) as caught:
                    websockets_echo_all(proxy.url, MESSAGES)
                return type(caught.value)

            assert await trio.to_thread.run_sync(websockets_client) is ConnectionClosedError


async def test_cut_resets_every_connection_now() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            serve(Behavior(on_open=[Send("hello")])) as server,
            FaultProxy(server.url) as proxy,
        ):
            sockets = [WebSocket(proxy.url) for _ in range(2)]
            endings: list[tuple[int, bool]] = []
            greeted = trio.Semaphore(0)
            closed = trio.Semaphore(0)
            for ws in sockets:
                ws.onmessage = lambda event: greeted.release()
                ws.onclose = lambda event: (
                    endings.append((event.code, event.wasClean)),
                    closed.release(),
                )
            for _ in sockets:
                await greeted.acquire()
            proxy.cut()
            for _ in sockets:
                await closed.acquire()
            for record in server.connections:
                await record.wait_closed()
    assert endings == [(1006, False), (1006, False)]
    # The server lost TCP without a Close frame either.
    assert [record.close_received for record in server.connections] == [False, False]


async def test_cut_as_the_websockets_client_sees_it() -> None:
    greeted = trio.Event()

    def websockets_client(url: str) -> str:
        with connect(url, open_timeout=5, ping_interval=None) as ws:
            greeting = ws.recv(timeout=5)
            trio.from_thread.run_sync(greeted.set)
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=5)
        return str(greeting)

    with trio.fail_after(TIMEOUT):
        async with (
            serve(Behavior(on_open=[Send("hello")])) as server,
            FaultProxy(server.url) as proxy,
            trio.open_nursery() as nursery,
        ):
            result: list[str] = []

            async def run_client() -> None:
                result.append(await trio.to_thread.run_sync(websockets_client, proxy.url))

            nursery.start_soon(run_client)
            await greeted.wait()
            proxy.cut()
    assert result == ["hello"]


async def test_a_bandwidth_limit_keeps_every_byte() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            serve() as server,
            FaultProxy(server.url, bandwidth=200_000, chunk_size=7) as proxy,
        ):
            received, ending = await w3cws_echo_all(proxy.url, MESSAGES[:30])
            echoed = await trio.to_thread.run_sync(websockets_echo_all, proxy.url, MESSAGES[:30])
    assert received == echoed == MESSAGES[:30]
    assert ending == (1000, "all back", True)


async def test_half_close_ends_only_the_server_to_client_direction() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server, FaultProxy(server.url) as proxy:
            ws = WebSocket(proxy.url)
            seen: list[object] = []
            closed = trio.Event()
            ws.onopen = lambda event: (ws.send("first"), proxy.half_close())
            ws.onclose = lambda event: (seen.append((event.code, event.wasClean)), closed.set())
            await closed.wait()
            record = server.connections[0]
            await record.wait_messages(1)
    # A FIN with no Close frame: 1006, and what the client sent still arrived.
    assert seen == [(1006, False)]
    assert record.messages == ["first"]


async def test_blackhole_and_faults_change_while_running() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server, FaultProxy(server.url) as proxy:
            ws = WebSocket(proxy.url, close_timeout=0.2)
            seen: list[object] = []
            closed = trio.Event()
            ws.onmessage = lambda event: (
                seen.append(event.data),
                # Slicing switched on mid-connection: the echo still arrives whole.
                setattr(proxy, "chunk_size", 2),
                ws.send("sliced") if event.data == "whole" else None,
                # Then the network goes silent: our Close is never answered.
                setattr(proxy, "blackhole", True) if event.data == "sliced" else None,
                ws.close() if event.data == "sliced" else None,
            )
            ws.onopen = lambda event: ws.send("whole")
            ws.onclose = lambda event: (seen.append((event.code, event.wasClean)), closed.set())
            await closed.wait()
    assert seen == ["whole", "sliced", (1006, False)]
    assert server.connections[0].close_received is False


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="latency must be"):
        FaultProxy("ws://127.0.0.1:1", latency=-1)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        FaultProxy("ws://127.0.0.1:1", chunk_size=0)
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        FaultProxy("ws://127.0.0.1:1", bandwidth=0)
    with pytest.raises(RuntimeError, match="use it in 'async with'"):
        _ = FaultProxy("ws://127.0.0.1:1").url


async def test_the_proxy_command() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:
            process = await trio.lowlevel.open_process(
                [
                    sys.executable,
                    "-m",
                    "w3cws",
                    "proxy",
                    server.url,
                    "--chunk",
                    "1",
                    "--latency",
                    "0.01",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                assert process.stdout is not None
                line = b""
                while not line.endswith(b"\n"):
                    line += await process.stdout.receive_some(1)
                words = line.decode().split()
                assert words[0] == "proxying" and words[2:] == ["->", server.url]
                received, ending = await w3cws_echo_all(words[1], MESSAGES[:10])
                assert received == MESSAGES[:10]
                assert ending == (1000, "all back", True)
            finally:
                process.terminate()
                await process.wait()
