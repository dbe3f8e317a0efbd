"""Event handler attributes: HTML "event handlers" rules and their ordering examples."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from w3cws._dom.event import Event
from w3cws._dom.event_handlers import EventHandler
from w3cws._dom.event_target import EventTarget, set_async_listener_runner, set_exception_reporter
from w3cws._warnings import W3CWSWarning


class Target(EventTarget):
    onx = EventHandler("x")
    ony = EventHandler("y")


def recorder(calls: list[str], name: str) -> Callable[[Event], None]:
    def listener(event: Event) -> None:
        calls.append(name)

    return listener


def run_script(script: str) -> list[str]:
    """Run steps like "add A; onX = H1; onX = None" and return the call order."""
    target = Target()
    calls: list[Any] = []
    for step in script.split(";"):
        left, _, right = step.strip().partition(" = ")
        if left.startswith("add("):
            target.addEventListener("x", recorder(calls, left[4:-1]))
        else:
            target.onx = None if right == "None" else recorder(calls, right)
    target.dispatchEvent(Event("x"))
    return calls


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # HTML "event handlers": a handler keeps the place of its first activation.
        ("add(A); onX = H1; add(B); onX = H2", ["A", "H2", "B"]),
        ("onX = H1; add(A); onX = None; onX = H2", ["A", "H2"]),
        ("onX = H1; add(A); onX = H2", ["H2", "A"]),
        # More of the same rules.
        ("onX = H1", ["H1"]),
        ("onX = H1; onX = None", []),
        ("add(A); onX = H1; onX = None; add(B)", ["A", "B"]),
        ("onX = None; add(A); onX = H1", ["A", "H1"]),
    ],
)
def test_ordering(script: str, expected: list[str]) -> None:
    assert run_script(script) == expected


def test_getter_returns_the_current_value() -> None:
    target = Target()
    assert target.onx is None

    def handler(event: Event) -> None:
        pass

    target.onx = handler
    assert target.onx is handler
    assert target.ony is None
    target.onx = None
    assert target.onx is None


def test_descriptor_on_the_class() -> None:
    assert isinstance(Target.onx, EventHandler)


@pytest.mark.parametrize("value", ["print", 42, b"", object(), None])
def test_non_callable_values_count_as_none(value: object) -> None:
    target = Target()
    calls: list[Any] = []
    target.onx = calls.append
    if value is None:
        target.onx = value
    else:
        # A browser ignores it silently; w3cws does the same, and warns.
        with pytest.warns(W3CWSWarning, match="cannot be called: the handler is removed"):
            target.onx = value
    assert target.onx is None
    target.dispatchEvent(Event("x"))
    assert calls == []


def test_handler_and_listener_are_independent() -> None:
    target = Target()
    calls: list[Any] = []
    target.addEventListener("x", calls.append)
    target.onx = calls.append  # a handler is not an addEventListener duplicate
    target.dispatchEvent(Event("x"))
    assert len(calls) == 2
    target.removeEventListener("x", calls.append)
    target.dispatchEvent(Event("x"))
    assert len(calls) == 3


def test_capture_listeners_run_before_the_handler() -> None:
    target = Target()
    calls: list[Any] = []
    target.onx = recorder(calls, "handler")
    target.addEventListener("x", recorder(calls, "capture"), True)
    target.dispatchEvent(Event("x"))
    assert calls == ["capture", "handler"]


def test_capture_listener_added_by_the_handler_runs_from_the_next_dispatch() -> None:
    target = Target()
    calls: list[Any] = []
    capture = recorder(calls, "capture")

    def handler(event: Event) -> None:
        calls.append("handler")
        target.addEventListener("x", capture, True)

    target.onx = handler
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert calls == ["handler", "capture", "handler"]


def test_handlers_of_other_types_do_not_run() -> None:
    target = Target()
    calls: list[Any] = []
    target.onx = recorder(calls, "x")
    target.ony = recorder(calls, "y")
    target.dispatchEvent(Event("y"))
    assert calls == ["y"]


@pytest.mark.parametrize(
    ("returned", "cancelable", "result"),
    [
        (False, True, False),  # exactly False cancels...
        (False, False, True),  # ...by preventDefault rules only
        (None, True, True),
        (0, True, True),
        ("", True, True),
        (True, True, True),
    ],
)
def test_return_value_false_cancels(returned: object, cancelable: bool, result: bool) -> None:
    target = Target()
    target.onx = lambda event: returned
    assert target.dispatchEvent(Event("x", {"cancelable": cancelable})) is result


def test_new_value_runs_when_set_before_the_handler_is_reached() -> None:
    target = Target()
    calls: list[Any] = []
    target.addEventListener("x", lambda e: setattr(target, "onx", recorder(calls, "H2")))
    target.onx = recorder(calls, "H1")
    target.dispatchEvent(Event("x"))
    assert calls == ["H2"]


def test_handler_activated_during_dispatch_waits_for_the_next_one() -> None:
    target = Target()
    calls: list[Any] = []
    target.addEventListener("x", lambda e: setattr(target, "onx", recorder(calls, "H")))
    target.dispatchEvent(Event("x"))
    assert calls == []
    target.dispatchEvent(Event("x"))
    assert calls == ["H"]


def test_handler_deactivated_during_dispatch_is_not_called() -> None:
    target = Target()
    calls: list[Any] = []
    target.addEventListener("x", lambda e: setattr(target, "onx", None))
    target.onx = recorder(calls, "H")
    target.dispatchEvent(Event("x"))
    assert calls == []


def test_handler_exception_is_reported() -> None:
    reported: list[BaseException] = []
    set_exception_reporter(reported.append)
    target = Target()
    calls: list[Any] = []

    def failing(event: Event) -> None:
        raise ValueError("handler failed")

    target.onx = failing
    target.addEventListener("x", calls.append)
    target.dispatchEvent(Event("x"))
    assert [str(exc) for exc in reported] == ["handler failed"]
    assert len(calls) == 1


def test_async_handler_goes_to_the_runner() -> None:
    started: list[Coroutine[Any, Any, object]] = []
    set_async_listener_runner(started.append)
    target = Target()

    async def handler(event: Event) -> None:
        pass

    target.onx = handler
    assert target.dispatchEvent(Event("x", {"cancelable": True})) is True
    [coro] = started
    coro.close()


def test_state_is_per_instance() -> None:
    first = Target()
    second = Target()
    calls: list[Any] = []
    first.onx = recorder(calls, "first")
    assert second.onx is None
    second.dispatchEvent(Event("x"))
    first.dispatchEvent(Event("x"))
    assert calls == ["first"]
