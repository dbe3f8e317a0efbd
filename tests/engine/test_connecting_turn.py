"""One connection per host in the CONNECTING state (RFC 6455 §4.1, client step 2).

Later WebSockets to the same host and port wait, in the order they were
created, until the earlier one is open or failed; other hosts do not wait.
"""

from __future__ import annotations

import trio
import trio.testing

from w3cws import WebSocket
from w3cws._engine.transport import ConnectingTurn
from w3cws.testing import Behavior, serve

DELAY = 0.5  # the server's wait before it answers each handshake


async def open_times(urls: list[str]) -> list[float]:
    """When each of the sockets, created at once, fired open (trio time)."""
    start = trio.current_time()
    opened: list[float] = [-1.0] * len(urls)
    done = trio.Event()
    sockets = [WebSocket(url) for url in urls]

    def on_open(i: int) -> None:
        opened[i] = trio.current_time() - start
        if min(opened) >= 0:
            done.set()

    for i, ws in enumerate(sockets):
        ws.onopen = lambda e, i=i: on_open(i)
    with trio.fail_after(60):
        await done.wait()
    for ws in sockets:
        ws.close()
    return opened


async def test_same_host_connects_one_at_a_time(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    async with serve(Behavior(handshake_delay=DELAY)) as server:
        assert await open_times([server.url] * 3) == [DELAY, 2 * DELAY, 3 * DELAY]


async def test_other_hosts_do_not_wait(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    async with (
        serve(Behavior(handshake_delay=DELAY)) as one,
        serve(Behavior(handshake_delay=DELAY)) as two,
    ):
        assert await open_times([one.url, two.url]) == [DELAY, DELAY]


async def test_a_connection_given_up_lets_the_next_one_connect(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0
    async with serve(Behavior(handshake_delay=DELAY)) as server:
        first = WebSocket(server.url)
        second = WebSocket(server.url)
        opened = trio.Event()
        second.onopen = lambda e: opened.set()
        await server.wait_for_connections(1)
        start = trio.current_time()
        first.close()  # while CONNECTING: fails it, and frees the turn
        with trio.fail_after(60):
            await opened.wait()
        assert trio.current_time() - start == DELAY
        second.close()


async def test_turns_in_creation_order_and_released_once() -> None:
    a, b, c = (ConnectingTurn("h.test", 80) for _ in range(3))
    other = ConnectingTurn("h.test", 81)
    order: list[str] = []

    async def take(name: str, turn: ConnectingTurn) -> None:
        await turn.wait()
        order.append(name)

    async with trio.open_nursery() as nursery:
        await other.wait()  # another port: its own queue
        await a.wait()  # first: no wait
        nursery.start_soon(take, "c", c)
        nursery.start_soon(take, "b", b)
        await trio.testing.wait_all_tasks_blocked()
        assert order == []
        a.release()
        a.release()  # idempotent: b keeps its turn
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["b"]
        b.release()
    assert order == ["b", "c"]
    c.release()
    other.release()


async def test_a_waiting_turn_that_leaves_wakes_nobody() -> None:
    a, b, c = (ConnectingTurn("h.test", 80) for _ in range(3))
    woken: list[str] = []

    async def take(name: str, turn: ConnectingTurn) -> None:
        await turn.wait()
        woken.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take, "c", c)
        await trio.testing.wait_all_tasks_blocked()
        b.release()  # gave up while waiting
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        a.release()
    assert woken == ["c"]
    c.release()
    fresh = ConnectingTurn("h.test", 80)  # the queue was emptied: first again
    with trio.fail_after(1):
        await fresh.wait()
    fresh.release()
