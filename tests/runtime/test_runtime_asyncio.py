"""WebSockets made where an asyncio loop runs: events are tasks on that loop.

The network runs on the background trio thread; the asyncio loop of the
creating thread dispatches the events, so no trio run is ever held on it.

Plain sync tests that call ``asyncio.run`` themselves (pytest-trio's trio
mode would otherwise run them inside trio). The peer is
``w3cws.testing.ServerThread`` on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import trio

from w3cws import CloseEvent, InvalidStateError, MessageEvent, WebSocket
from w3cws.testing import Behavior, Send, ServerThread

from .servers import closed_records

WAIT = 5.0


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(Behavior(on_open=[Send("hello")])) as running:
        yield running


def test_handlers_run_on_the_loop_thread_between_awaits(server: ServerThread) -> None:
    async def main() -> None:
        ws = WebSocket(server.url)
        seen: list[tuple[str, bool]] = []
        loop_thread = threading.get_ident()
        ws.onmessage = lambda e: seen.append((e.data, threading.get_ident() == loop_thread))
        # Nothing is dispatched until this coroutine yields to the loop.
        assert seen == []
        # wait_for() sees events from its call on (the greeting may come
        # with the handshake), so both waits start before either event.
        opened, message = await asyncio.gather(
            ws.wait_for("open", timeout=WAIT), ws.wait_for("message", timeout=WAIT)
        )
        assert opened.type == "open" and opened.isTrusted and opened.target is ws
        assert isinstance(message, MessageEvent) and message.data == "hello"
        ws.send("echo me")
        echo = await ws.wait_for("message", timeout=WAIT)
        assert isinstance(echo, MessageEvent) and echo.data == "echo me"
        assert seen == [("hello", True), ("echo me", True)]
        ws.close(4000, "done")
        closed = await ws.wait_for("close", timeout=WAIT)
        assert isinstance(closed, CloseEvent)
        assert (closed.code, closed.reason, closed.wasClean) == (4000, "done", True)
        # A once-only event that already fired comes back at once.
        assert await ws.wait_for("open") is opened
        with pytest.raises(InvalidStateError):
            await ws.wait_for("message")

    asyncio.run(main())


def test_async_listeners_are_asyncio_tasks(server: ServerThread) -> None:
    async def main() -> list[str]:
        ws = WebSocket(server.url)
        got: list[str] = []

        async def on_message(event: MessageEvent) -> None:
            await asyncio.sleep(0)  # asyncio, like the cell around it
            got.append(f"{event.data} {asyncio.current_task() is not None}")
            ws.close()

        ws.onmessage = on_message
        # The listener appends before it calls close(): done by the close event.
        await ws.wait_for("close", timeout=WAIT)
        return got

    assert asyncio.run(main()) == ["hello True"]


def test_no_trio_run_is_held_on_the_loop_thread(server: ServerThread) -> None:
    async def main() -> None:
        first, second = WebSocket(server.url), WebSocket(server.url)
        # The greeting may be dispatched right after open, so the wait for it
        # starts with the wait for open; the echo below is then the next one.
        _, greeting = await asyncio.gather(
            first.wait_for("open", timeout=WAIT), first.wait_for("message", timeout=WAIT)
        )
        assert isinstance(greeting, MessageEvent) and greeting.data == "hello"
        await second.wait_for("open", timeout=WAIT)
        # So a trio.run in this thread (IPython's %autoawait trio) works
        # while the sockets are open, and they go on afterwards.
        assert not trio.lowlevel.in_trio_run()
        assert trio.run(trio.sleep, 0) is None
        first.send("after trio")
        echo = await first.wait_for("message", timeout=WAIT)
        assert isinstance(echo, MessageEvent) and echo.data == "after trio"
        first.close()
        second.close()
        await first.wait_for("close", timeout=WAIT)
        await second.wait_for("close", timeout=WAIT)

    asyncio.run(main())


def test_reconnecting_while_the_last_run_winds_down(server: ServerThread) -> None:
    # Right after the close event the old run is still finishing; a socket
    # made then must start on the next run, not be lost.
    async def main() -> None:
        for _ in range(3):
            ws = WebSocket(server.url)
            await ws.wait_for("open", timeout=WAIT)
            ws.close()
            await ws.wait_for("close", timeout=WAIT)
        ws = WebSocket(server.url)
        await ws.wait_for("message", timeout=WAIT)
        ws.send("still works")
        echo = await ws.wait_for("message", timeout=WAIT)
        assert isinstance(echo, MessageEvent) and echo.data == "still works"
        ws.close()
        await ws.wait_for("close", timeout=WAIT)

    asyncio.run(main())
    assert len(server.connections) == 4


def test_asyncio_run_ending_says_going_away(server: ServerThread) -> None:
    closes: list[object] = []

    async def main() -> WebSocket:
        ws = WebSocket(server.url)
        ws.onclose = closes.append
        await ws.wait_for("message", timeout=WAIT)
        return ws  # still open when asyncio.run() ends

    started = time.monotonic()
    ws = asyncio.run(main())
    assert time.monotonic() - started < 3
    assert ws.readyState == WebSocket.CLOSED
    assert closes == []  # the page unloaded: no events
    [record] = closed_records(server)
    assert record.close_code == 1001
    assert not trio.lowlevel.in_trio_run()


def test_send_and_close_from_other_threads(server: ServerThread) -> None:
    async def main() -> list[str | bytes]:
        ws = WebSocket(server.url)
        await ws.wait_for("open", timeout=WAIT)
        for i in range(20):
            await asyncio.to_thread(ws.send, f"m{i}")
        await asyncio.to_thread(ws.close, 1000)
        await ws.wait_for("close", timeout=WAIT)
        return server.connections[0].messages

    assert asyncio.run(main()) == [f"m{i}" for i in range(20)]


def test_each_loop_thread_dispatches_its_own_sockets(server: ServerThread) -> None:
    seen: list[tuple[str, bool]] = []

    async def main() -> None:
        ws = WebSocket(server.url)
        mine = threading.get_ident()
        ws.onmessage = lambda e: seen.append((e.data, threading.get_ident() == mine))
        await ws.wait_for("message", timeout=WAIT)
        ws.close()
        await ws.wait_for("close", timeout=WAIT)

    threads = [threading.Thread(target=asyncio.run, args=(main(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert seen == [("hello", True), ("hello", True)]
    assert len(server.connections) == 2


def test_trio_does_not_take_over_sigint(server: ServerThread) -> None:
    # ipykernel runs cells with Python's default SIGINT handler; w3cws must
    # leave Ctrl-C to the cell instead of installing trio's handler there.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    loop = asyncio.new_event_loop()
    try:

        async def main() -> None:
            ws = WebSocket(server.url)
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            await ws.wait_for("message", timeout=WAIT)
            ws.close()
            await ws.wait_for("close", timeout=WAIT)

        loop.run_until_complete(main())
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous)
