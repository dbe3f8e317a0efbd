"""WebSockets made in plain synchronous code run on one background trio thread.

These are plain (sync) tests: pytest-trio's trio mode leaves them outside
trio, as a script is. The peer is ``w3cws.testing.ServerThread`` on
loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import trio

from w3cws import CloseEvent, Event, InvalidStateError, MessageEvent, WebSocket
from w3cws.testing import Behavior, Send, ServerThread

WAIT = 5.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)


def w3cws_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "w3cws"]


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(Behavior(on_open=[Send("hello")])) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_background_thread_left() -> Iterator[None]:
    yield
    # Every test closes its sockets: the background run must end with them.
    wait_until(lambda: not w3cws_threads())


def test_events_arrive_on_the_background_thread(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    seen: list[tuple[str, str]] = []
    closed = threading.Event()

    def record(event: Event) -> None:
        data = event.data if isinstance(event, MessageEvent) else ""
        seen.append((event.type, str(data)))
        if event.type == "close":
            closed.set()

    for type in ("open", "message", "close"):
        ws.addEventListener(type, record)
    threads: set[str] = set()
    ws.addEventListener("message", lambda e: threads.add(threading.current_thread().name))
    wait_until(lambda: len(seen) >= 2)
    ws.send("from main")
    wait_until(lambda: len(seen) >= 3)
    ws.close(1000, "bye")
    assert closed.wait(WAIT)
    assert seen == [("open", ""), ("message", "hello"), ("message", "from main"), ("close", "")]
    assert threads == {"w3cws"}
    assert ws.readyState == WebSocket.CLOSED
    assert ws.bufferedAmount == 0
    record_ = server.connections[0]
    assert record_.messages == ["from main"]
    assert (record_.close_code, record_.close_reason) == (1000, "bye")


def test_the_thread_ends_with_its_last_socket_and_comes_back(server: ServerThread) -> None:
    first = WebSocket(server.url)
    second = WebSocket(server.url)
    wait_until(lambda: first.readyState == second.readyState == WebSocket.OPEN)
    assert len(w3cws_threads()) == 1
    first.close()
    wait_until(lambda: first.readyState == WebSocket.CLOSED)
    # A round trip on the second socket: the thread went on after the first closed.
    echoed = threading.Event()
    second.addEventListener("message", lambda e: e.data == "still here" and echoed.set())
    second.send("still here")
    assert echoed.wait(WAIT)
    assert len(w3cws_threads()) == 1  # second still needs it
    second.close()
    wait_until(lambda: not w3cws_threads())
    third = WebSocket(server.url)
    wait_until(lambda: third.readyState == WebSocket.OPEN)
    assert len(w3cws_threads()) == 1
    third.close()


def test_handlers_calling_back_into_sockets_do_not_deadlock(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    done = threading.Event()
    followers: list[WebSocket] = []

    def on_message(event: MessageEvent) -> None:
        if event.data == "hello":
            ws.send("echo me")
        else:
            ws.close(4001)

    def on_close(event: CloseEvent) -> None:
        # A constructor on the background thread itself, inside a handler.
        follower = WebSocket(server.url)
        follower.onopen = lambda e: follower.close()
        follower.onclose = lambda e: done.set()
        followers.append(follower)

    ws.onmessage = on_message
    ws.onclose = on_close
    assert done.wait(WAIT)
    assert server.connections[0].messages == ["echo me"]
    assert server.connections[0].close_code == 4001
    assert followers[0].readyState == WebSocket.CLOSED


def test_send_from_many_threads_keeps_count_and_order(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    ws.onmessage = lambda e: None
    wait_until(lambda: ws.readyState == WebSocket.OPEN)
    n_threads, n_messages = 4, 200

    def sender(index: int) -> None:
        for i in range(n_messages):
            ws.send(f"{index}:{i:04d}" + "x" * 50)

    workers = [threading.Thread(target=sender, args=(k,)) for k in range(n_threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    record = server.connections[0]
    wait_until(lambda: len(record.messages) >= n_threads * n_messages)
    wait_until(lambda: ws.bufferedAmount == 0)
    for k in range(n_threads):
        mine = [m for m in record.messages if isinstance(m, str) and m.startswith(f"{k}:")]
        assert mine == [f"{k}:{i:04d}" + "x" * 50 for i in range(n_messages)]
    ws.close()
    wait_until(lambda: ws.readyState == WebSocket.CLOSED)


def test_an_async_listener_keeps_the_thread_until_it_ends(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    running, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    async def on_close(event: CloseEvent) -> None:
        # A trio task on the background run; the socket is CLOSED already.
        running.set()
        await trio.to_thread.run_sync(proceed.wait, WAIT)
        finished.set()

    ws.onclose = on_close
    ws.onopen = lambda e: ws.close()
    assert running.wait(WAIT)
    assert len(w3cws_threads()) == 1  # the listener still runs there
    proceed.set()
    assert finished.wait(WAIT)


def test_wait_for_from_asyncio_and_trio_in_another_thread() -> None:
    with ServerThread(Behavior()) as echo:
        ws = WebSocket(echo.url)

        async def with_asyncio() -> str:
            opened = await ws.wait_for("open", timeout=WAIT)
            # The wait must be registered before the send: the background
            # thread may send, and dispatch the echo, before this thread
            # gets to a wait started after send(). Calls reach that thread in
            # order, so a wait started first is there first.
            waiting = asyncio.ensure_future(ws.wait_for("message", timeout=WAIT))
            await asyncio.sleep(0)  # the task starts and registers its wait
            ws.send("ping")
            message = await waiting
            assert isinstance(message, MessageEvent)
            return f"{opened.type} {message.data}"

        async def with_trio() -> int:
            ws.close(4002)
            event = await ws.wait_for("close", timeout=WAIT)
            assert isinstance(event, CloseEvent)
            return event.code

        # The socket lives on the background thread; the loop that waits
        # starts no guest run for it.
        assert asyncio.run(with_asyncio()) == "open ping"
        assert trio.run(with_trio) == 4002
        # Recorded once-only events come back at once; others never can.
        assert trio.run(ws.wait_for, "open").type == "open"
        with pytest.raises(InvalidStateError):
            asyncio.run(ws.wait_for("message", timeout=WAIT))


def test_wait_for_times_out_with_timeout_error() -> None:
    with ServerThread(Behavior(handshake_delay=2)) as slow:
        ws = WebSocket(slow.url)
        with pytest.raises(TimeoutError):
            asyncio.run(ws.wait_for("open", timeout=0.05))
        with pytest.raises(TimeoutError):
            trio.run(lambda: ws.wait_for("open", timeout=0.05))
        ws.close()
        wait_until(lambda: ws.readyState == WebSocket.CLOSED)


def test_a_run_ending_wakes_its_waiters_from_another_thread(server: ServerThread) -> None:
    made: list[WebSocket] = []
    release = threading.Event()

    async def hosting_run() -> None:
        made.append(WebSocket(server.url))
        await trio.to_thread.run_sync(release.wait, WAIT)

    host_thread = threading.Thread(target=trio.run, args=(hosting_run,))
    host_thread.start()
    wait_until(lambda: bool(made) and made[0].readyState == WebSocket.OPEN)
    ws = made[0]

    async def wait_for_a_message_then_end_the_run() -> None:
        waiting = asyncio.ensure_future(ws.wait_for("error", timeout=WAIT))
        await asyncio.sleep(0)  # the waiting task starts and asks the host to arm it
        # Calls reach the host in order, so once this answer is back the
        # waiter above is armed.
        await ws.wait_for("open", timeout=WAIT)
        release.set()  # the trio run ends: the socket goes away, no events
        with pytest.raises(InvalidStateError, match="went away"):
            await waiting

    asyncio.run(wait_for_a_message_then_end_the_run())
    host_thread.join(WAIT)
    assert ws.readyState == WebSocket.CLOSED
