"""AbortController and AbortSignal (DOM §3)."""

from __future__ import annotations

from typing import Any

import pytest

from w3cws._dom.abort import AbortController, AbortSignal
from w3cws._dom.dom_exception import DOMException
from w3cws._dom.event import Event


def test_fresh_signal() -> None:
    signal = AbortController().signal
    assert (signal.aborted, signal.reason, signal.onabort) == (False, None, None)
    signal.throwIfAborted()  # does nothing


def test_signal_is_not_constructible() -> None:
    with pytest.raises(TypeError, match="Illegal constructor"):
        AbortSignal()


def test_controller_keeps_its_signal() -> None:
    controller = AbortController()
    assert controller.signal is controller.signal


def test_default_reason_is_an_abort_error() -> None:
    controller = AbortController()
    controller.abort()
    reason = controller.signal.reason
    assert isinstance(reason, DOMException)
    assert (reason.name, reason.message, reason.code) == (
        "AbortError",
        "signal is aborted without reason",
        20,
    )
    with pytest.raises(DOMException) as info:
        controller.signal.throwIfAborted()
    assert info.value is reason


def test_abort_fires_one_trusted_event() -> None:
    controller = AbortController()
    events: list[Any] = []
    handled: list[Any] = []
    controller.signal.addEventListener("abort", events.append)
    controller.signal.onabort = handled.append
    controller.abort("first")
    controller.abort("second")  # already aborted: nothing changes
    [event] = events
    assert handled == [event]
    assert (event.type, event.isTrusted, event.target) == ("abort", True, controller.signal)
    assert (controller.signal.aborted, controller.signal.reason) == (True, "first")


def test_listeners_are_removed_before_the_abort_event() -> None:
    # DOM "run the abort steps": the abort algorithms run, then abort fires.
    controller = AbortController()
    calls: list[Any] = []
    signal = controller.signal
    signal.addEventListener("abort", calls.append, {"signal": signal})
    controller.abort()
    assert calls == []


def test_abort_removes_listeners_of_every_target() -> None:
    from w3cws._dom.event_target import EventTarget

    controller = AbortController()
    calls: list[Any] = []
    targets = [EventTarget(), EventTarget()]
    for target in targets:
        target.addEventListener("x", calls.append, {"signal": controller.signal})
        target.addEventListener("x", calls.append, {"signal": controller.signal, "capture": True})
    controller.abort()
    for target in targets:
        target.dispatchEvent(Event("x"))
    assert calls == []
    assert controller.signal._abort_algorithms == {}


@pytest.mark.parametrize(
    ("reason", "raised_type"),
    [
        (ValueError("custom"), ValueError),
        (DOMException("late", "TimeoutError"), DOMException),
    ],
)
def test_throw_if_aborted_raises_an_exception_reason(
    reason: BaseException, raised_type: type[BaseException]
) -> None:
    controller = AbortController()
    controller.abort(reason)
    with pytest.raises(raised_type) as info:
        controller.signal.throwIfAborted()
    assert info.value is reason


def test_throw_if_aborted_wraps_other_reasons() -> None:
    signal = AbortSignal.abort("timeout")
    with pytest.raises(DOMException, match="'timeout'") as info:
        signal.throwIfAborted()
    assert info.value.name == "AbortError"


@pytest.mark.parametrize("reason", [None, "why", 0])
def test_static_abort(reason: object) -> None:
    signal = AbortSignal.abort(reason)
    assert signal.aborted is True
    if reason is None:
        assert isinstance(signal.reason, DOMException)
        assert signal.reason.name == "AbortError"
    else:
        assert signal.reason == reason


def test_listener_with_already_aborted_signal_is_not_added() -> None:
    signal = AbortSignal.abort()
    calls: list[Any] = []
    signal.addEventListener("abort", calls.append, {"signal": signal})
    signal.dispatchEvent(Event("abort"))
    assert calls == []
    assert signal._abort_algorithms == {}
