"""Timers and microtasks (HTML 8.6 "Timers", 8.7 "Microtask queuing").

In trio the timers follow the run's clock: these tests run on
``trio.testing.MockClock`` with autojump (pytest-trio's ``autojump_clock``),
so seconds of timeouts pass in no real time. Outside trio they run on the
thread's w3cws event loop (``w3cws.run()``), with delays of 0 or a few ms.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
import trio
import trio.testing

import w3cws
from w3cws import (
    CustomEvent,
    Event,
    EventTarget,
    WebSocket,
    clearInterval,
    clearTimeout,
    queueMicrotask,
    setInterval,
    setTimeout,
)
from w3cws._dom.event_target import set_exception_reporter
from w3cws.testing import Behavior, Send, ServerThread

WAIT = 5.0


@pytest.fixture
def reported() -> Iterator[list[BaseException]]:
    """Exceptions reported as a listener's would be."""
    seen: list[BaseException] = []
    previous = set_exception_reporter(seen.append)
    yield seen
    set_exception_reporter(previous)


async def test_ids_are_positive_and_unique(autojump_clock: trio.testing.MockClock) -> None:
    ids = [setTimeout(lambda: None, 10) for _ in range(5)]
    ids += [setInterval(lambda: None, 10) for _ in range(5)]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(set(ids)) == 10
    for i in ids:
        clearTimeout(i)


async def test_order_follows_timeout_then_start(autojump_clock: trio.testing.MockClock) -> None:
    fired: list[str] = []
    start = trio.current_time()
    setTimeout(fired.append, 10, "a 10ms")
    setTimeout(fired.append, 5, "b 5ms")
    setTimeout(fired.append, 10, "c 10ms")
    setTimeout(fired.append, 0, "d 0ms")
    setTimeout(fired.append, 0, "e 0ms")
    setTimeout(fired.append, -50, "f negative")
    await trio.sleep(1)
    assert fired == ["d 0ms", "e 0ms", "f negative", "b 5ms", "a 10ms", "c 10ms"]
    # Negative counts as 0: nothing waited for the clock to pass zero.
    assert trio.current_time() - start == pytest.approx(1)


async def test_arguments_are_passed(autojump_clock: trio.testing.MockClock) -> None:
    got: list[tuple[object, ...]] = []
    setTimeout(lambda *args: got.append(args), 1, 1, "two", None)
    await trio.sleep(0.01)
    assert got == [(1, "two", None)]


async def test_interval_keeps_its_id_and_clear_works_from_either_name(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    ticks: list[float] = []
    interval = setInterval(lambda: ticks.append(trio.current_time() - start), 1000)
    await trio.sleep(3.5)
    assert ticks == pytest.approx([1.0, 2.0, 3.0])
    clearTimeout(interval)  # one map for both kinds
    await trio.sleep(3)
    assert len(ticks) == 3
    once: list[str] = []
    timeout = setTimeout(once.append, 10, "never")
    clearInterval(timeout)
    clearTimeout(None)
    clearTimeout(123456)
    clearInterval(-1)
    await trio.sleep(1)
    assert once == []


async def test_an_interval_cleared_by_its_own_callback_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []

    def tick() -> None:
        calls.append(interval)
        if len(calls) == 3:
            clearInterval(interval)

    interval = setInterval(tick, 0)
    await trio.sleep(1)
    assert calls == [interval] * 3


async def test_nesting_past_five_levels_is_clamped_to_4ms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    times: list[float] = []

    def nested() -> None:
        times.append(round((trio.current_time() - start) * 1000, 6))
        if len(times) < 8:
            setTimeout(nested, 0)

    setTimeout(nested, 0)
    await trio.sleep(1)
    assert times == [0, 0, 0, 0, 0, 4, 8, 12]


async def test_a_raising_callback_is_reported_and_the_loop_goes_on(
    autojump_clock: trio.testing.MockClock, reported: list[BaseException]
) -> None:
    fired: list[str] = []

    def broken() -> None:
        raise ValueError("a bug in a timer")

    setTimeout(broken, 1)
    setTimeout(fired.append, 2, "next")
    await trio.sleep(1)
    assert [str(e) for e in reported] == ["a bug in a timer"]
    assert fired == ["next"]


async def test_a_timer_never_runs_inside_a_handler(autojump_clock: trio.testing.MockClock) -> None:
    order: list[str] = []
    target = EventTarget()

    def first(event: Event) -> None:
        setTimeout(order.append, 0, "timer")
        order.append("first listener")
        target.dispatchEvent(Event("inner"))
        order.append("first listener returns")

    target.addEventListener("outer", first)
    target.addEventListener("inner", lambda e: order.append("inner listener"))
    target.dispatchEvent(Event("outer"))
    await trio.sleep(0.1)
    assert order == ["first listener", "inner listener", "first listener returns", "timer"]


async def test_a_30_second_backoff_on_mock_time(autojump_clock: trio.testing.MockClock) -> None:
    # Reconnect with backoff to a refused port: 1, 2, 4, 8, 16 then 30 s,
    # all skipped by the clock, with real loopback connection attempts.
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = trio.current_time()
    attempts: list[float] = []
    done = trio.Event()
    delays = [1000, 2000, 4000, 8000, 16000, 30000]

    def connect() -> None:
        attempts.append(trio.current_time() - start)
        ws = WebSocket(f"ws://127.0.0.1:{port}")

        def retry(event: Event) -> None:
            if delays:
                setTimeout(connect, delays.pop(0))
            else:
                done.set()

        ws.onclose = retry

    connect()
    with trio.fail_after(120):
        await done.wait()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(attempts) == 7
    for gap, delay in zip(gaps, [1, 2, 4, 8, 16, 30], strict=True):
        assert gap >= delay
    assert trio.current_time() - start >= 61


# -- microtasks --


async def test_a_microtask_runs_right_after_its_listener(reported: list[BaseException]) -> None:
    order: list[str] = []
    target = EventTarget()

    def first(event: Event) -> None:
        queueMicrotask(lambda: order.append("microtask of first"))
        queueMicrotask(lambda: queueMicrotask(lambda: order.append("queued by a microtask")))
        order.append("first")

    def broken_microtask() -> None:
        raise ValueError("a bug in a microtask")

    def second(event: Event) -> None:
        queueMicrotask(broken_microtask)
        queueMicrotask(lambda: order.append("after the broken one"))
        order.append("second")

    target.addEventListener("ping", first)
    target.addEventListener("ping", second)
    target.addEventListener("ping", lambda e: order.append("third"))
    target.dispatchEvent(Event("ping"))
    assert order == [
        "first",
        "microtask of first",
        "queued by a microtask",
        "second",
        "after the broken one",
        "third",
    ]
    assert [str(e) for e in reported] == ["a bug in a microtask"]


async def test_a_microtask_of_a_timer_runs_before_the_next_timer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    order: list[str] = []

    def first() -> None:
        queueMicrotask(lambda: order.append("microtask"))
        order.append("first timer")

    setTimeout(first, 0)
    setTimeout(order.append, 0, "second timer")
    await trio.sleep(0.1)
    assert order == ["first timer", "microtask", "second timer"]


async def test_a_microtask_queued_outside_a_callback_runs_soon() -> None:
    ran = trio.Event()
    queueMicrotask(ran.set)
    with trio.fail_after(WAIT):
        await ran.wait()


async def test_bad_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError, match="callable"):
        setTimeout("alert(1)", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="milliseconds"):
        setInterval(lambda: None, "10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        queueMicrotask(None)  # type: ignore[arg-type]


# -- outside trio: the thread's loop --


def test_run_keeps_going_while_timers_are_pending(reported: list[BaseException]) -> None:
    order: list[str] = []
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 3:
            clearInterval(interval)

    interval = setInterval(tick, 1)
    setTimeout(order.append, 5, "later")
    setTimeout(order.append, 0, "soon")
    setTimeout(lambda: 1 / 0, 0)
    queueMicrotask(lambda: order.append("microtask first"))
    w3cws.run(timeout=WAIT)
    assert order == ["microtask first", "soon", "later"]
    assert ticks == [0, 1, 2]
    assert [type(e) for e in reported] == [ZeroDivisionError]


def test_a_script_socket_closed_by_a_timer() -> None:
    with ServerThread(Behavior(on_open=[Send("hello")])) as server:
        seen: list[str] = []
        ws = WebSocket(server.url)
        ws.onopen = lambda e: seen.append("open")
        ws.onmessage = lambda e: seen.append(f"message {e.data}")
        ws.onclose = lambda e: seen.append(f"close {e.code}")
        setTimeout(lambda: ws.close(1000, "done"), 50)
        w3cws.run(timeout=WAIT)
    assert seen == ["open", "message hello", "close 1000"]


def test_timers_under_asyncio_run_on_its_loop() -> None:
    async def main() -> list[str]:
        order: list[str] = []
        done = asyncio.Event()
        setTimeout(order.append, 20, "second")
        setTimeout(order.append, 0, "first")
        setTimeout(done.set, 30)
        queueMicrotask(lambda: order.append("microtask"))
        await asyncio.wait_for(done.wait(), WAIT)
        return order

    assert asyncio.run(main()) == ["microtask", "first", "second"]


# -- CustomEvent --


def test_custom_event_carries_detail_on_any_target() -> None:
    target = EventTarget()
    got: list[object] = []
    target.addEventListener("tick", lambda e: got.append((e.detail, e.isTrusted)))
    payload = {"n": 1}
    assert target.dispatchEvent(CustomEvent("tick", {"detail": payload}))
    assert got == [(payload, False)]
    assert CustomEvent("x").detail is None
    assert CustomEvent("x", {"bubbles": True}).bubbles
    event = CustomEvent("x")
    event.initCustomEvent("y", False, True, 42)
    assert (event.type, event.cancelable, event.detail) == ("y", True, 42)
    assert isinstance(event, Event)


def test_the_end_of_asyncio_run_clears_its_timers() -> None:
    fired: list[str] = []

    async def main() -> None:
        setTimeout(fired.append, 60_000, "never")
        setInterval(fired.append, 60_000, "never either")

    asyncio.run(main())
    # Nothing is left for the thread's loop: it returns at once.
    w3cws.run(timeout=1)
    assert fired == []
