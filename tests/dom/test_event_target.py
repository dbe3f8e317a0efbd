"""EventTarget: listener list, options, dispatch order, reporting (DOM §2.7-§2.9)."""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from w3cws._dom.abort import AbortController
from w3cws._dom.dom_exception import InvalidStateError
from w3cws._dom.event import Event, create_event
from w3cws._dom.event_target import (
    EventTarget,
    report_exception,
    set_async_listener_runner,
    set_callback_checkpoint,
    set_exception_reporter,
)

Listener = Callable[[Event], object]


@pytest.fixture
def reported() -> list[BaseException]:
    """Collect reported exceptions instead of logging them."""
    exceptions: list[BaseException] = []
    set_exception_reporter(exceptions.append)
    return exceptions


class Log:
    """Makes named listeners that record their calls in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, name: str, action: Callable[[Event], object] | None = None) -> Listener:
        def listener(event: Event) -> object:
            self.calls.append(name)
            return None if action is None else action(event)

        listener.__name__ = name
        return listener


# --- adding, de-duplication, removal -------------------------------------------------


def test_capture_listeners_run_first() -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", log("bubble1"))
    target.addEventListener("x", log("capture1"), True)
    target.addEventListener("x", log("bubble2"), {"capture": False})
    target.addEventListener("x", log("capture2"), {"capture": True})
    target.dispatchEvent(Event("x"))
    assert log.calls == ["capture1", "capture2", "bubble1", "bubble2"]


def test_only_listeners_of_the_event_type_run() -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("a", log("a"))
    target.addEventListener("b", log("b"))
    target.dispatchEvent(Event("b"))
    assert log.calls == ["b"]


@pytest.mark.parametrize(
    ("first", "second", "expected_calls"),
    [
        (None, None, 1),
        (False, {"capture": False, "once": True, "passive": True}, 1),  # once/passive ignored
        (True, {"capture": True}, 1),
        (False, True, 2),  # capture is part of the identity
        ({}, {"capture": True}, 2),
    ],
)
def test_duplicates_are_ignored(first: Any, second: Any, expected_calls: int) -> None:
    target = EventTarget()
    calls: list[Any] = []
    target.addEventListener("x", calls.append, first)
    target.addEventListener("x", calls.append, second)
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))  # the first registration was not "once"
    assert len(calls) == 2 * expected_calls


class Owner:
    def __init__(self) -> None:
        self.calls = 0

    def on_x(self, event: Event) -> None:
        self.calls += 1


def test_bound_methods_compare_equal() -> None:
    target, owner = EventTarget(), Owner()
    assert owner.on_x is not owner.on_x  # a fresh object at each access...
    target.addEventListener("x", owner.on_x)
    target.addEventListener("x", owner.on_x)  # ...yet a duplicate
    target.dispatchEvent(Event("x"))
    assert owner.calls == 1
    target.removeEventListener("x", owner.on_x)
    target.dispatchEvent(Event("x"))
    assert owner.calls == 1


@pytest.mark.parametrize(
    ("add_options", "remove_options", "removed"),
    [
        (None, None, True),
        (False, {}, True),
        (True, None, False),  # registered with capture, removed without
        (True, False, False),
        (True, True, True),
        ({"capture": True}, {"capture": True}, True),
        ({"once": True}, {"once": False}, True),  # only capture matters
        ({"passive": True}, None, True),
        (None, True, False),
    ],
)
def test_remove_matches_type_callback_and_capture(
    add_options: Any, remove_options: Any, removed: bool
) -> None:
    target = EventTarget()
    calls: list[Any] = []
    target.addEventListener("x", calls.append, add_options)
    target.removeEventListener("x", calls.append, remove_options)
    target.removeEventListener("other", calls.append, add_options)
    target.dispatchEvent(Event("x"))
    assert (calls == []) is removed


def test_none_callback_is_a_no_op() -> None:
    target = EventTarget()
    target.addEventListener("x", None)
    target.removeEventListener("x", None)
    assert target.dispatchEvent(Event("x")) is True


def test_once_runs_one_time() -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", log("once"), {"once": True})
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert log.calls == ["once"]


def test_once_listener_is_removed_before_it_is_called() -> None:
    target = EventTarget()
    depth: list[Any] = []

    def listener(event: Event) -> None:
        depth.append(len(depth))
        if len(depth) == 1:  # a nested dispatch from inside must not call it again
            target.dispatchEvent(Event("x"))

    target.addEventListener("x", listener, {"once": True})
    target.dispatchEvent(Event("x"))
    assert depth == [0]


def test_signal_option() -> None:
    target, log = EventTarget(), Log()
    aborted = AbortController()
    aborted.abort()
    target.addEventListener("x", log("not added"), {"signal": aborted.signal})
    controller = AbortController()
    target.addEventListener("x", log("removed on abort"), {"signal": controller.signal})
    target.addEventListener("x", log("stays"))
    target.dispatchEvent(Event("x"))
    controller.abort()
    target.dispatchEvent(Event("x"))
    assert log.calls == ["removed on abort", "stays", "stays"]


def test_removed_listener_releases_its_abort_algorithm() -> None:
    target = EventTarget()
    controller = AbortController()
    calls: list[Any] = []
    target.addEventListener("x", calls.append, {"signal": controller.signal, "once": True})
    target.addEventListener("y", calls.append, {"signal": controller.signal})
    assert len(controller.signal._abort_algorithms) == 2
    target.dispatchEvent(Event("x"))  # once: removed
    target.removeEventListener("y", calls.append)
    assert controller.signal._abort_algorithms == {}


def test_signal_option_must_be_an_abort_signal() -> None:
    with pytest.raises(TypeError, match="AbortSignal"):
        EventTarget().addEventListener("x", print, {"signal": object()})


def test_signal_none_means_no_signal() -> None:
    target = EventTarget()
    calls: list[Any] = []
    target.addEventListener("x", calls.append, {"signal": None})
    target.dispatchEvent(Event("x"))
    assert len(calls) == 1


# --- changes to the list during dispatch ---------------------------------------------


def test_listener_removed_during_dispatch_is_not_called() -> None:
    target, log = EventTarget(), Log()
    second = log("second")
    target.addEventListener("x", log("first", lambda e: target.removeEventListener("x", second)))
    target.addEventListener("x", second)
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first"]


def test_listener_added_during_dispatch_waits_for_the_next_one() -> None:
    target, log = EventTarget(), Log()
    late = log("late")
    target.addEventListener("x", log("first", lambda e: target.addEventListener("x", late)))
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first"]
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first", "first", "late"]


def test_non_capture_listener_added_in_capture_pass_runs_in_bubble_pass() -> None:
    # DOM §2.9: each pass ("invoke") takes its own snapshot of the list.
    target, log = EventTarget(), Log()
    late = log("late")
    target.addEventListener("x", log("capture", lambda e: target.addEventListener("x", late)), True)
    target.dispatchEvent(Event("x"))
    assert log.calls == ["capture", "late"]


def test_removed_and_re_added_listener_is_not_called_twice() -> None:
    target, log = EventTarget(), Log()
    second = log("second")

    def re_add(event: Event) -> None:
        target.removeEventListener("x", second)
        target.addEventListener("x", second)  # a new record, after the snapshot

    target.addEventListener("x", log("first", re_add))
    target.addEventListener("x", second)
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first"]


# A type without capture listeners is dispatched in one pass (the bubble pass);
# these pin that it behaves as the two passes would.


def test_capture_listener_added_in_a_one_pass_dispatch_waits_for_the_next() -> None:
    target, log = EventTarget(), Log()
    late = log("late capture")
    target.addEventListener("x", log("first", lambda e: target.addEventListener("x", late, True)))
    target.addEventListener("x", log("second"))
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first", "second"]
    target.dispatchEvent(Event("x"))
    assert log.calls == ["first", "second", "late capture", "first", "second"]


def test_capture_listener_removing_every_listener_of_the_type() -> None:
    # The capture pass empties the type's list; the bubble pass clones it then.
    target, log = EventTarget(), Log()
    bubble = log("bubble")

    def remove_all(event: Event) -> None:
        target.removeEventListener("x", capture, True)
        target.removeEventListener("x", bubble)

    capture = log("capture", remove_all)
    target.addEventListener("x", capture, True)
    target.addEventListener("x", bubble)
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert log.calls == ["capture"]
    target.addEventListener("x", bubble)  # the type can have listeners again
    target.dispatchEvent(Event("x"))
    assert log.calls == ["capture", "bubble"]


def test_once_listener_in_a_one_pass_dispatch() -> None:
    target, log = EventTarget(), Log()
    once = log("once")
    target.addEventListener("x", once, {"once": True})
    target.addEventListener("x", log("stays"))
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert log.calls == ["once", "stays", "stays"]
    target.addEventListener("x", once, {"once": True})  # gone, so not a duplicate
    target.dispatchEvent(Event("x"))
    assert log.calls == ["once", "stays", "stays", "stays", "once"]


def test_listeners_keep_their_order_across_types_and_capture() -> None:
    target, log = EventTarget(), Log()
    a, b, c = log("a"), log("b"), log("c")
    for callback in (a, b, c):
        target.addEventListener("x", callback)
        target.addEventListener("y", callback, True)
    target.removeEventListener("x", b)
    target.addEventListener("x", b)  # a new record goes last
    target.removeEventListener("y", c, True)  # only the "y" record
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("y"))
    assert log.calls == ["a", "c", "b", "a", "b"]


@pytest.fixture
def checkpoints() -> Iterator[list[str]]:
    """Record each callback checkpoint as "checkpoint" in the list given to the test."""
    calls: list[str] = []
    previous = set_callback_checkpoint(lambda: calls.append("checkpoint"))
    yield calls
    set_callback_checkpoint(previous)


@pytest.mark.parametrize("capture", [False, True])
def test_checkpoint_after_each_listener(
    checkpoints: list[str], reported: list[BaseException], capture: bool
) -> None:
    # HTML "clean up after running a callback", after a listener that raised
    # and after the one that stops the dispatch, in both passes.
    target = EventTarget()

    def log(name: str, action: Callable[[Event], object]) -> Listener:
        def listener(event: Event) -> object:
            checkpoints.append(name)
            return action(event)

        return listener

    target.addEventListener("x", log("fails", _fail), capture)
    target.addEventListener("x", log("stops", Event.stopImmediatePropagation), capture)
    target.addEventListener("x", log("skipped", Event.preventDefault), capture)
    target.dispatchEvent(Event("x"))
    assert checkpoints == ["fails", "checkpoint", "stops", "checkpoint"]
    assert [type(exc) for exc in reported] == [ValueError]


# --- propagation and cancelation -----------------------------------------------------


@pytest.mark.parametrize(
    ("stopper_capture", "stop", "expected"),
    [
        (False, Event.stopImmediatePropagation, ["c1", "c2", "stopper"]),
        (False, Event.stopPropagation, ["c1", "c2", "stopper", "b2"]),
        (True, Event.stopPropagation, ["c1", "stopper", "c2"]),  # bubble pass skipped
        (True, Event.stopImmediatePropagation, ["c1", "stopper"]),
        (False, lambda e: setattr(e, "cancelBubble", True), ["c1", "c2", "stopper", "b2"]),
    ],
)
def test_stopping_propagation(
    stopper_capture: bool, stop: Callable[[Event], None], expected: list[str]
) -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", log("c1"), True)
    target.addEventListener("x", log("stopper", stop), stopper_capture)
    target.addEventListener("x", log("c2"), True)
    target.addEventListener("x", log("b2"))
    target.dispatchEvent(Event("x"))
    assert log.calls == expected


def test_stop_flags_are_cleared_after_dispatch() -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", log("a", Event.stopImmediatePropagation))
    target.addEventListener("x", log("b"))
    event = Event("x")
    target.dispatchEvent(event)
    assert event.cancelBubble is False
    target.dispatchEvent(event)
    assert log.calls == ["a", "a"]


def test_stop_propagation_before_dispatch_skips_every_listener() -> None:
    target = EventTarget()
    calls: list[Any] = []
    target.addEventListener("x", calls.append)
    event = Event("x")
    event.stopPropagation()
    assert target.dispatchEvent(event) is True
    assert calls == []


@pytest.mark.parametrize(
    ("cancelable", "options", "result"),
    [
        (True, None, False),
        (False, None, True),
        (True, {"passive": True}, True),  # preventDefault ignored in a passive listener
        (True, {"passive": False}, False),
    ],
)
def test_dispatch_event_return_value(cancelable: bool, options: Any, result: bool) -> None:
    target = EventTarget()
    target.addEventListener("x", Event.preventDefault, options)
    event = Event("x", {"cancelable": cancelable})
    assert target.dispatchEvent(event) is result
    assert event.defaultPrevented is not result


def test_passive_flag_ends_with_the_passive_listener() -> None:
    target = EventTarget()
    target.addEventListener("x", Event.preventDefault, {"passive": True})
    target.addEventListener("x", lambda e: setattr(e, "returnValue", False))
    assert target.dispatchEvent(Event("x", {"cancelable": True})) is False


# --- event state during and after dispatch ---------------------------------------------


def test_event_state_during_and_after_dispatch() -> None:
    target = EventTarget()
    seen: list[Any] = []

    def listener(event: Event) -> None:
        seen.append((event.eventPhase, event.target, event.currentTarget, event.composedPath()))

    target.addEventListener("x", listener, True)
    target.addEventListener("x", listener)
    event = Event("x")
    target.dispatchEvent(event)
    assert seen == [(Event.AT_TARGET, target, target, [target])] * 2
    assert (event.eventPhase, event.currentTarget, event.target) == (Event.NONE, None, target)
    assert event.srcElement is target
    assert event.composedPath() == []


def test_dispatch_without_listeners_still_sets_target() -> None:
    target = EventTarget()
    event = Event("x")
    assert target.dispatchEvent(event) is True
    assert (event.target, event.eventPhase) == (target, Event.NONE)


@pytest.mark.parametrize("dispatch", ["dispatchEvent", "_fire"])
def test_is_trusted(dispatch: str) -> None:
    target = EventTarget()
    seen: list[Any] = []
    target.addEventListener("x", lambda e: seen.append(e.isTrusted))
    getattr(target, dispatch)(create_event(Event, "x"))
    # dispatchEvent() makes even a UA-created event untrusted; _fire() keeps it.
    assert seen == [dispatch == "_fire"]


def test_re_dispatching_an_event_being_dispatched_raises() -> None:
    target = EventTarget()
    other = EventTarget()
    outcomes: list[Any] = []

    def listener(event: Event) -> None:
        for where in (target, other):
            with pytest.raises(InvalidStateError) as info:
                where.dispatchEvent(event)
            outcomes.append(info.value.code)

    target.addEventListener("x", listener)
    event = Event("x")
    target.dispatchEvent(event)
    assert outcomes == [11, 11]
    assert target.dispatchEvent(event) is True  # fine again once it is over


def test_dispatch_event_needs_an_event() -> None:
    with pytest.raises(TypeError):
        EventTarget().dispatchEvent("x")  # type: ignore[arg-type]


# --- handleEvent objects -------------------------------------------------------------


class Handler:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def handleEvent(self, event: Event) -> None:
        self.calls.append("method")


def test_handle_event_object_is_looked_up_at_call_time() -> None:
    target, handler = EventTarget(), Handler()
    target.addEventListener("x", handler)
    target.dispatchEvent(Event("x"))
    handler.handleEvent = lambda event: handler.calls.append("replaced")  # type: ignore[method-assign]
    target.dispatchEvent(Event("x"))
    assert handler.calls == ["method", "replaced"]
    target.removeEventListener("x", handler)
    target.dispatchEvent(Event("x"))
    assert handler.calls == ["method", "replaced"]


def test_object_without_handle_event_is_a_reported_type_error(
    reported: list[BaseException],
) -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", object())
    target.addEventListener("x", log("next"))
    target.dispatchEvent(Event("x"))
    assert [type(exc) for exc in reported] == [TypeError]
    assert log.calls == ["next"]


# --- exceptions ----------------------------------------------------------------------


def _fail(event: Event) -> None:
    raise ValueError("listener failed")


def test_exception_is_logged_and_dispatch_continues(caplog: pytest.LogCaptureFixture) -> None:
    target, log = EventTarget(), Log()
    target.addEventListener("x", _fail, True)
    target.addEventListener("x", log("after"))
    with caplog.at_level(logging.ERROR, logger="w3cws"):
        assert target.dispatchEvent(Event("x")) is True
    assert log.calls == ["after"]
    [record] = caplog.records
    assert (record.name, record.levelno) == ("w3cws", logging.ERROR)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "listener failed" in caplog.text  # the traceback is in the output


def test_custom_reporter_gets_the_exception(reported: list[BaseException]) -> None:
    target = EventTarget()
    target.addEventListener("x", _fail)
    target.addEventListener("x", _fail, True)
    target.dispatchEvent(Event("x"))
    assert [str(exc) for exc in reported] == ["listener failed"] * 2


def test_failing_reporter_does_not_propagate(caplog: pytest.LogCaptureFixture) -> None:
    def bad_reporter(exc: BaseException) -> None:
        raise RuntimeError("reporter failed")

    set_exception_reporter(bad_reporter)
    with caplog.at_level(logging.ERROR, logger="w3cws"):
        report_exception(ValueError("original"))
    assert "reporter failed" in caplog.text
    assert "original" in caplog.text


def test_base_exceptions_are_not_swallowed() -> None:
    # KeyboardInterrupt and SystemExit leave a listener as they leave any code.
    target = EventTarget()

    def interrupt(event: Event) -> None:
        raise KeyboardInterrupt

    target.addEventListener("x", interrupt)
    with pytest.raises(KeyboardInterrupt):
        target.dispatchEvent(Event("x"))


# --- async listeners -----------------------------------------------------------------


def test_async_listener_is_handed_to_the_runner() -> None:
    target = EventTarget()
    started: list[Any] = []
    body_ran: list[Any] = []

    async def listener(event: Event) -> None:
        body_ran.append(event.type)

    set_async_listener_runner(started.append)
    target.addEventListener("x", listener)
    target.addEventListener("x", body_ran.append)  # dispatch goes on
    event = Event("x")
    target.dispatchEvent(event)
    [coro] = started
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
    assert body_ran == [event]
    with pytest.raises(StopIteration):
        coro.send(None)
    assert body_ran == [event, "x"]


def test_async_listener_without_runner_is_closed_and_reported(
    reported: list[BaseException],
) -> None:
    target = EventTarget()
    made: list[Coroutine[Any, Any, None]] = []

    async def body() -> None:
        raise AssertionError("must not run")

    def listener(event: Event) -> Coroutine[Any, Any, None]:
        made.append(body())
        return made[-1]

    target.addEventListener("x", listener)
    target.dispatchEvent(Event("x"))
    [exc] = reported
    assert isinstance(exc, RuntimeError)
    assert "runtime" in str(exc)
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


def test_async_handle_event_is_handed_to_the_runner() -> None:
    started: list[Coroutine[Any, Any, object]] = []

    class AsyncHandler:
        async def handleEvent(self, event: Event) -> None:
            pass

    set_async_listener_runner(started.append)
    target = EventTarget()
    target.addEventListener("x", AsyncHandler())
    target.dispatchEvent(Event("x"))
    [coro] = started
    coro.close()


# --- subclassing ---------------------------------------------------------------------


def test_subclass_with_state() -> None:
    class Socket(EventTarget):
        def __init__(self) -> None:
            super().__init__()
            self.url = "ws://example.com"

    socket = Socket()
    calls: list[Any] = []
    socket.addEventListener("open", calls.append)
    socket.dispatchEvent(Event("open"))
    assert calls[0].target is socket


def test_targets_can_be_weakly_referenced() -> None:
    target = EventTarget()
    assert weakref.ref(target)() is target
