"""WebSockets made in plain synchronous code: the network on one background
trio thread, the events on the creating thread while it runs ``w3cws.run()``.

These are plain (sync) tests: pytest-trio's trio mode leaves them outside
trio, as a script is. The peer is ``w3cws.testing.ServerThread`` on
loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import trio

import w3cws
from w3cws import CloseEvent, Event, InvalidStateError, MessageEvent, WebSocket
from w3cws._loop.loop import Feedback
from w3cws.testing import Behavior, Close, Send, ServerThread

from .servers import closed_records

WAIT = 5.0


def background_threads_end(timeout: float = WAIT) -> None:
    """Join the background run's threads, bounded; fail if one is still alive."""
    deadline = time.monotonic() + timeout
    while (threads := w3cws_threads()) and time.monotonic() < deadline:
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    assert not w3cws_threads(), "the background run did not end"


def closed_code(server: ServerThread) -> int | None:
    [record] = closed_records(server)
    return record.close_code


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
    background_threads_end()


def test_events_arrive_on_the_creating_thread_in_run(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    seen: list[tuple[str, str]] = []

    def record(event: Event) -> None:
        data = event.data if isinstance(event, MessageEvent) else ""
        seen.append((event.type, str(data)))

    # Handlers assigned after the constructor: nothing was dispatched yet.
    assert ws.readyState == WebSocket.CONNECTING
    for type in ("open", "message", "close"):
        ws.addEventListener(type, record)
    threads: set[str] = set()
    ws.addEventListener("message", lambda e: threads.add(threading.current_thread().name))
    w3cws.run(until=lambda: len(seen) >= 2, timeout=WAIT)
    assert ws.readyState == WebSocket.OPEN
    ws.send("from main")
    w3cws.run(until=lambda: len(seen) >= 3, timeout=WAIT)
    ws.close(1000, "bye")
    w3cws.run(timeout=WAIT)  # returns once the close event was dispatched
    assert seen == [("open", ""), ("message", "hello"), ("message", "from main"), ("close", "")]
    assert threads == {threading.current_thread().name}
    assert ws.readyState == WebSocket.CLOSED
    assert ws.bufferedAmount == 0
    record_ = server.connections[0]
    assert record_.messages == ["from main"]
    assert (record_.close_code, record_.close_reason) == (1000, "bye")


def test_a_socket_the_loop_never_ran_for_stays_connecting(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    server.wait_for_connections(1)
    # The server accepted, but this thread has not run its loop.
    assert ws.readyState == WebSocket.CONNECTING
    with pytest.raises(InvalidStateError):
        ws.send("too early")
    opened: list[str] = []
    ws.onopen = lambda e: opened.append(ws.protocol)
    w3cws.run(until=lambda: bool(opened), timeout=WAIT)
    assert opened == [""] and ws.readyState == WebSocket.OPEN
    ws.close()
    w3cws.run(timeout=WAIT)


def test_close_while_the_script_sees_connecting_fails_the_connection(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine opened already, the script has not seen it: close() is the
    # standard's close() in CONNECTING: error, then close 1006, no open.
    # Bounded wait for the engine (not the script) to have opened: the
    # engine's report to the script's loop is watched on its way.
    engine_opened = threading.Event()
    report = Feedback._on_established

    def watched(self: Feedback, protocol: str, extensions: str) -> None:
        report(self, protocol, extensions)
        engine_opened.set()

    monkeypatch.setattr(Feedback, "_on_established", watched)
    ws = WebSocket(server.url)
    assert engine_opened.wait(WAIT)
    seen: list[str] = []
    ws.onopen = lambda e: seen.append("open")
    ws.onerror = lambda e: seen.append("error")
    ws.onclose = lambda e: seen.append(f"close {e.code} {e.wasClean}")
    ws.close()
    assert ws.readyState == WebSocket.CLOSING
    w3cws.run(timeout=WAIT)
    assert seen == ["error", "close 1006 False"]
    assert ws.readyState == WebSocket.CLOSED
    # On the wire the open connection was dropped with going away.
    assert closed_code(server) == 1001


def test_send_and_close_after_the_network_ended_but_before_the_script_saw_it() -> None:
    # The server greets and closes; the script has seen only open when the
    # background run is already gone. send() and close() still act as the
    # standard says for an OPEN socket, and raise nothing.
    with ServerThread(Behavior(on_open=[Send("hi"), Close(4001, "server bye")])) as server:
        seen: list[object] = []
        ws = WebSocket(server.url)
        ws.onopen = lambda e: seen.append("open")
        ws.onmessage = lambda e: seen.append(e.data)
        ws.onclose = lambda e: seen.append((e.code, e.reason, e.wasClean))
        w3cws.run(until=lambda: seen, timeout=WAIT)
        background_threads_end()
        assert ws.readyState == WebSocket.OPEN
        ws.send("late")
        ws.close(1000)
        w3cws.run(timeout=WAIT)
    # The queued message is dropped: the script called close() first.
    assert seen == ["open", (4001, "server bye", True)]
    assert ws.readyState == WebSocket.CLOSED
    assert ws.bufferedAmount == 4
    assert server.connections[0].messages == []


def test_run_times_out_and_leaves_the_sockets_alone(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    got: list[str] = []
    ws.onmessage = lambda e: got.append(e.data)
    with pytest.raises(TimeoutError, match="1 socket"):
        w3cws.run(until=lambda: False, timeout=0.2)
    assert ws.readyState == WebSocket.OPEN and got == ["hello"]
    ws.close()
    w3cws.run(timeout=WAIT)
    with pytest.raises(RuntimeError, match="can no longer become true"):
        w3cws.run(until=lambda: False, timeout=WAIT)


def test_run_refuses_bad_arguments_and_a_running_trio() -> None:
    with pytest.raises(ValueError, match="timeout"):
        w3cws.run(timeout=-1)
    with pytest.raises(TypeError, match="until"):
        w3cws.run(until=True)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="inside a trio run"):
        trio.run(_run_inside_trio)
    w3cws.run(timeout=0)  # nothing to do: returns at once


async def _run_inside_trio() -> None:
    w3cws.run()


def test_the_thread_ends_with_its_last_socket_and_comes_back(server: ServerThread) -> None:
    first = WebSocket(server.url)
    second = WebSocket(server.url)
    w3cws.run(until=lambda: first.readyState == second.readyState == WebSocket.OPEN, timeout=WAIT)
    assert len(w3cws_threads()) == 1
    first.close()
    w3cws.run(until=lambda: first.readyState == WebSocket.CLOSED, timeout=WAIT)
    assert len(w3cws_threads()) == 1  # second still needs it
    second.close()
    w3cws.run(timeout=WAIT)
    background_threads_end()
    third = WebSocket(server.url)
    w3cws.run(until=lambda: third.readyState == WebSocket.OPEN, timeout=WAIT)
    assert len(w3cws_threads()) == 1
    third.close()
    w3cws.run(timeout=WAIT)


def test_handlers_calling_back_into_sockets_do_not_deadlock(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    followers: list[WebSocket] = []
    done: list[str] = []

    def on_message(event: MessageEvent) -> None:
        if event.data == "hello":
            ws.send("echo me")
        else:
            ws.close(4001)

    def on_close(event: CloseEvent) -> None:
        # A constructor inside a handler: the socket joins the same loop.
        follower = WebSocket(server.url)
        follower.onopen = lambda e: follower.close()
        follower.onclose = lambda e: done.append("follower closed")
        followers.append(follower)

    ws.onmessage = on_message
    ws.onclose = on_close
    w3cws.run(timeout=WAIT)
    assert done == ["follower closed"]
    assert server.connections[0].messages == ["echo me"]
    assert server.connections[0].close_code == 4001
    assert followers[0].readyState == WebSocket.CLOSED


def test_run_inside_a_handler_is_refused(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    errors: list[BaseException] = []

    def on_open(event: Event) -> None:
        try:
            w3cws.run()
        except RuntimeError as exc:
            errors.append(exc)
        ws.close()

    ws.onopen = on_open
    w3cws.run(timeout=WAIT)
    assert len(errors) == 1 and "return from the callback" in str(errors[0])


def test_eight_threads_send_while_the_loop_runs(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    w3cws.run(until=lambda: ws.readyState == WebSocket.OPEN, timeout=WAIT)
    n_threads, n_messages = 8, 200
    echoed: list[str] = []
    ws.onmessage = lambda e: echoed.append(e.data)
    errors: list[BaseException] = []

    def sender(index: int) -> None:
        try:
            for i in range(n_messages):
                ws.send(f"{index}:{i:04d}" + "x" * 50)
        except BaseException as exc:  # recorded, asserted below
            errors.append(exc)

    workers = [threading.Thread(target=sender, args=(k,)) for k in range(n_threads)]
    for worker in workers:
        worker.start()
    # The loop runs (and dispatches the echoes) while the threads send.
    w3cws.run(until=lambda: len(echoed) >= n_threads * n_messages + 1, timeout=WAIT * 4)
    for worker in workers:
        worker.join(WAIT)
    assert errors == []
    record = server.connections[0]
    assert len(record.messages) == n_threads * n_messages
    for k in range(n_threads):
        expected = [f"{k}:{i:04d}" + "x" * 50 for i in range(n_messages)]
        mine = [m for m in record.messages if isinstance(m, str) and m.startswith(f"{k}:")]
        assert mine == expected
        assert [m for m in echoed if m.startswith(f"{k}:")] == expected
    assert ws.bufferedAmount == 0
    ws.close()
    w3cws.run(timeout=WAIT)


@pytest.mark.parametrize("attempt", range(5))
def test_close_racing_sends_from_other_threads(server: ServerThread, attempt: int) -> None:
    # Only what the standard allows: send() never raises once OPEN (after
    # close() it only counts bytes), close() never raises for valid codes.
    ws = WebSocket(server.url)
    w3cws.run(until=lambda: ws.readyState == WebSocket.OPEN, timeout=WAIT)
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def sender(index: int) -> None:
        start.wait(WAIT)
        try:
            for i in range(100):
                ws.send(f"{index}:{i}")
        except BaseException as exc:  # recorded, asserted below
            errors.append(exc)

    def closer() -> None:
        start.wait(WAIT)
        try:
            ws.close(4000)
        except BaseException as exc:  # recorded, asserted below
            errors.append(exc)

    workers = [threading.Thread(target=sender, args=(k,)) for k in range(8)]
    workers.append(threading.Thread(target=closer))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT)
    w3cws.run(timeout=WAIT)
    assert errors == []
    assert ws.readyState == WebSocket.CLOSED
    # What went out before the Close kept each thread's order.
    record = server.connections[0]
    for k in range(8):
        mine = [m for m in record.messages if isinstance(m, str) and m.startswith(f"{k}:")]
        assert mine == [f"{k}:{i}" for i in range(len(mine))]


def test_an_async_listener_runs_on_the_background_run(server: ServerThread) -> None:
    ws = WebSocket(server.url)
    running, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    async def on_close(event: CloseEvent) -> None:
        # A trio task on the background run; the socket is CLOSED already.
        running.set()
        await trio.to_thread.run_sync(proceed.wait, WAIT)
        finished.set()

    ws.onclose = on_close
    ws.onopen = lambda e: ws.close()
    w3cws.run(timeout=WAIT)
    assert running.wait(WAIT)
    # The listener still runs on a background run (the socket's own run may
    # still be winding down beside it).
    assert w3cws_threads()
    proceed.set()
    assert finished.wait(WAIT)


def test_a_worker_thread_has_its_own_loop(server: ServerThread) -> None:
    results: list[tuple[str, str]] = []

    def worker() -> None:
        ws = WebSocket(server.url)
        ws.onmessage = lambda e: results.append((e.data, threading.current_thread().name))
        ws.onopen = lambda e: ws.send("from the worker")
        w3cws.run(until=lambda: len(results) == 2, timeout=WAIT)
        ws.close()
        w3cws.run(timeout=WAIT)

    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join(WAIT * 2)
    assert results == [("hello", "worker"), ("from the worker", "worker")]
    # The main thread's loop owns nothing: it returns at once.
    w3cws.run(timeout=0)


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
        # serves the thread's loop while it waits.
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
        w3cws.run(timeout=WAIT)
        assert ws.readyState == WebSocket.CLOSED


def test_a_run_ending_wakes_its_waiters_from_another_thread(server: ServerThread) -> None:
    made: list[WebSocket] = []
    opened, release = threading.Event(), threading.Event()

    async def hosting_run() -> None:
        ws = WebSocket(server.url)
        ws.onopen = lambda e: opened.set()
        made.append(ws)
        await trio.to_thread.run_sync(release.wait, WAIT)

    host_thread = threading.Thread(target=trio.run, args=(hosting_run,))
    host_thread.start()
    assert opened.wait(WAIT)
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
