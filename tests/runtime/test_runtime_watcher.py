"""EventWatcher, what answers ``wait_for``: the socket's own events reach it
through ``seen``, which takes no lock for a message nobody waits for."""

from __future__ import annotations

import threading

from w3cws._dom.event import Event, create_event, create_message_event
from w3cws._dom.event_target import EventTarget
from w3cws._loop.wait import Answer, EventWatcher, _Waiter

WAIT = 5.0


def waiter(type: str, answers: list[Answer]) -> _Waiter:
    return _Waiter(type, answers.append)


def test_a_message_nobody_waits_for_answers_no_later_waiter() -> None:
    watcher = EventWatcher(EventTarget())
    answers: list[Answer] = []
    watcher.seen(create_message_event("early", "ws://h"))
    watcher.arm(waiter("message", answers))
    assert answers == []
    late = create_message_event("late", "ws://h")
    watcher.seen(late)
    assert answers == [late]


def test_once_only_events_are_recorded_when_nobody_waits() -> None:
    watcher = EventWatcher(EventTarget())
    answers: list[Answer] = []
    opened = create_event(Event, "open")
    watcher.seen(opened)
    watcher.arm(waiter("open", answers))
    assert answers == [opened]


def test_a_waiter_armed_on_another_thread_is_answered_by_the_next_message() -> None:
    watcher = EventWatcher(EventTarget())
    answers: list[Answer] = []
    thread = threading.Thread(target=watcher.arm, args=(waiter("message", answers),))
    thread.start()
    thread.join(WAIT)
    message = create_message_event("m", "ws://h")
    watcher.seen(message)
    assert answers == [message]


def race_arm_with_messages() -> tuple[list[Answer], Event, Event]:
    """Arm a message waiter on a thread while this one sees a message; then another."""
    watcher = EventWatcher(EventTarget())
    answers: list[Answer] = []
    start = threading.Barrier(2, timeout=WAIT)

    def arm() -> None:
        start.wait()
        watcher.arm(waiter("message", answers))

    thread = threading.Thread(target=arm)
    thread.start()
    first = create_message_event("first", "ws://h")
    start.wait()
    watcher.seen(first)
    thread.join(WAIT)
    second = create_message_event("second", "ws://h")
    watcher.seen(second)
    return answers, first, second


def test_a_waiter_armed_during_a_message_gets_that_one_or_the_next() -> None:
    # Never lost, never answered twice.
    for _ in range(200):
        answers, first, second = race_arm_with_messages()
        assert answers in ([first], [second])
