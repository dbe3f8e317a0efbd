"""Event, MessageEvent, CloseEvent: construction, flags, create_event (DOM §2.2, §2.5)."""

from __future__ import annotations

from typing import Any

import pytest

from w3cws._dom.blob import Blob
from w3cws._dom.event import (
    CloseEvent,
    Event,
    MessageEvent,
    create_event,
    create_message_event,
)
from w3cws._dom.event_target import EventTarget

EVENT_DEFAULTS: dict[str, object] = {
    "target": None,
    "srcElement": None,
    "currentTarget": None,
    "eventPhase": 0,
    "bubbles": False,
    "cancelable": False,
    "composed": False,
    "defaultPrevented": False,
    "returnValue": True,
    "cancelBubble": False,
    "isTrusted": False,
}


@pytest.mark.parametrize(
    ("cls", "extra"),
    [
        (Event, {}),
        (
            MessageEvent,
            {"data": None, "origin": "", "lastEventId": "", "source": None, "ports": []},
        ),
        (CloseEvent, {"wasClean": False, "code": 0, "reason": ""}),
    ],
)
def test_defaults(cls: type[Event], extra: dict[str, object]) -> None:
    event = cls("x")
    assert event.type == "x"
    for name, value in {**EVENT_DEFAULTS, **extra}.items():
        assert getattr(event, name) == value, name
    assert event.composedPath() == []


@pytest.mark.parametrize(
    ("cls", "init", "expected"),
    [
        (Event, {"bubbles": True}, {"bubbles": True, "cancelable": False}),
        (Event, {"cancelable": 1, "composed": True}, {"cancelable": True, "composed": True}),
        (Event, {"unknown": 1}, {"bubbles": False}),
        (
            MessageEvent,
            {"data": b"\x00", "origin": "ws://h", "lastEventId": "7", "ports": ("p",)},
            {"data": b"\x00", "origin": "ws://h", "lastEventId": "7", "ports": ["p"]},
        ),
        (MessageEvent, {"origin": "a\ud800"}, {"origin": "a\ufffd"}),
        (MessageEvent, {"cancelable": True}, {"cancelable": True, "data": None}),
        (
            CloseEvent,
            {"wasClean": True, "code": 1000, "reason": "bye"},
            {"wasClean": True, "code": 1000, "reason": "bye"},
        ),
        (CloseEvent, {"code": 65536 + 1001}, {"code": 1001}),  # unsigned short wraps
        (CloseEvent, {"code": -1}, {"code": 65535}),
        (CloseEvent, {"reason": "\udc00"}, {"reason": "\ufffd"}),
    ],
)
def test_init_dict(cls: type[Event], init: dict[str, Any], expected: dict[str, object]) -> None:
    event = cls("x", init)
    for name, value in expected.items():
        assert getattr(event, name) == value, name


@pytest.mark.parametrize(
    ("cls", "init"),
    [
        (Event, None),
        (MessageEvent, {"origin": 1}),
        (MessageEvent, {"lastEventId": None}),
        (CloseEvent, {"code": 1000.5}),
        (CloseEvent, {"reason": b"bytes"}),
    ],
)
def test_bad_types(cls: type[Event], init: dict[str, Any] | None) -> None:
    with pytest.raises(TypeError):
        cls(42 if init is None else "x", init)  # type: ignore[arg-type]


def test_phase_constants_on_class_and_instance() -> None:
    event = Event("x")
    for name, value in [
        ("NONE", 0),
        ("CAPTURING_PHASE", 1),
        ("AT_TARGET", 2),
        ("BUBBLING_PHASE", 3),
    ]:
        assert getattr(Event, name) == getattr(event, name) == value


@pytest.mark.parametrize(
    "name",
    [
        "type", "target", "srcElement", "currentTarget", "eventPhase", "bubbles", "cancelable",
        "composed", "defaultPrevented", "isTrusted", "timeStamp",
    ],
)  # fmt: skip
def test_read_only_attributes(name: str) -> None:
    event = Event("x")
    with pytest.raises(AttributeError):
        setattr(event, name, getattr(event, name))


@pytest.mark.parametrize(
    ("cancelable", "cancel", "prevented"),
    [
        (True, Event.preventDefault, True),
        (False, Event.preventDefault, False),
        (True, lambda e: setattr(e, "returnValue", False), True),
        (False, lambda e: setattr(e, "returnValue", False), False),
        (True, lambda e: setattr(e, "returnValue", True), False),
    ],
)
def test_canceling(cancelable: bool, cancel: Any, prevented: bool) -> None:
    event = Event("x", {"cancelable": cancelable})
    cancel(event)
    assert event.defaultPrevented is prevented
    assert event.returnValue is not prevented
    event.returnValue = True  # cannot un-cancel
    assert event.defaultPrevented is prevented


def test_cancel_bubble_and_stop_flags() -> None:
    event = Event("x")
    event.cancelBubble = False
    assert event.cancelBubble is False
    event.cancelBubble = True
    assert event.cancelBubble is True
    event.cancelBubble = False  # setting false does nothing
    assert event.cancelBubble is True
    other = Event("y")
    other.stopImmediatePropagation()
    assert other.cancelBubble is True


def test_time_stamp_is_monotonic_milliseconds() -> None:
    first, second = Event("a"), Event("b")
    assert isinstance(first.timeStamp, float)
    assert 0 <= first.timeStamp <= second.timeStamp


def test_init_event_reinitializes() -> None:
    event = create_event(Event, "a", cancelable=True)
    event.preventDefault()
    event.stopImmediatePropagation()
    event.initEvent("b", True)
    assert (event.type, event.bubbles, event.cancelable) == ("b", True, False)
    assert (event.defaultPrevented, event.cancelBubble, event.isTrusted) == (False, False, False)


def test_init_event_is_a_no_op_during_dispatch() -> None:
    target = EventTarget()
    seen: list[str] = []

    def listener(event: Event) -> None:
        event.initEvent("changed", True, True)
        seen.append(event.type)

    target.addEventListener("a", listener)
    event = Event("a")
    target.dispatchEvent(event)
    assert seen == ["a"]
    assert (event.type, event.bubbles) == ("a", False)


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (Event, {}),
        (Event, {"cancelable": True}),
        (MessageEvent, {"data": "hi", "origin": "ws://example.com"}),
        (CloseEvent, {"wasClean": True, "code": 1000, "reason": ""}),
    ],
)
def test_create_event_is_trusted_with_fields(cls: type[Event], fields: dict[str, object]) -> None:
    event = create_event(cls, "t", **fields)
    assert type(event) is cls
    assert event.type == "t"
    assert event.isTrusted is True
    for name, value in fields.items():
        assert getattr(event, name) == value, name


def test_create_event_leaves_other_fields_at_defaults() -> None:
    event = create_event(MessageEvent, "message", data=b"x")
    assert (event.origin, event.lastEventId, event.source, event.ports) == ("", "", None, [])
    assert event.ports is not create_event(MessageEvent, "message").ports


def test_create_message_event_is_create_event_for_a_message() -> None:
    # Every slot, so that a slot added to Event or MessageEvent and not set
    # by create_message_event fails here.
    before = create_event(MessageEvent, "message", data=b"x", origin="ws://h")
    fast = create_message_event(b"x", "ws://h")
    after = create_event(MessageEvent, "message", data=b"x", origin="ws://h")
    slots = [name for cls in MessageEvent.__mro__ for name in getattr(cls, "__slots__", ())]
    assert "_time_stamp" in slots
    for name in slots:
        if name != "_time_stamp":
            assert getattr(fast, name) == getattr(before, name), name
    assert before.timeStamp <= fast.timeStamp <= after.timeStamp
    assert type(fast) is MessageEvent
    assert fast.ports is not create_message_event(b"x", "ws://h").ports


def test_create_event_rejects_unknown_fields() -> None:
    with pytest.raises(KeyError):
        create_event(CloseEvent, "close", wasclean=True)


def test_event_repr_shows_type_phase_and_trust() -> None:
    event = Event("ping")
    assert repr(event) == "<Event type='ping' eventPhase=NONE isTrusted=False>"
    seen: list[str] = []
    target = EventTarget()
    target.addEventListener("ping", lambda e: seen.append(repr(e)))
    target.dispatchEvent(event)
    assert seen == ["<Event type='ping' eventPhase=AT_TARGET isTrusted=False>"]


@pytest.mark.parametrize(
    ("code", "reason", "clean", "shown"),
    [
        (1000, "bye", True, "code=1000 (NORMAL_CLOSURE) reason='bye' wasClean=True"),
        (1006, "", False, "code=1006 (ABNORMAL_CLOSURE) reason='' wasClean=False"),
        (4000, "x", True, "code=4000 (application) reason='x' wasClean=True"),
    ],
)
def test_close_event_repr_names_the_code(code: int, reason: str, clean: bool, shown: str) -> None:
    event = create_event(CloseEvent, "close", code=code, reason=reason, wasClean=clean)
    assert repr(event) == f"<CloseEvent type='close' {shown}>"


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ("hello", "'hello' (str, 5 characters)"),
        ("é" * 50, repr("é" * 40) + "... (str, 50 characters)"),
        (b"\x00\x01", "b'\\x00\\x01' (bytes, 2 bytes)"),
        (bytes(100), repr(bytes(16)) + "... (bytes, 100 bytes)"),
        (Blob([b"abc"]), "<Blob size=3 type=''>"),
    ],
)
def test_message_event_repr_previews_the_data(data: object, shown: str) -> None:
    event = create_event(MessageEvent, "message", data=data, origin="ws://127.0.0.1:8765")
    assert repr(event) == (
        f"<MessageEvent type='message' data={shown} origin='ws://127.0.0.1:8765'>"
    )
