"""Event handler attributes (``onopen``, ``onmessage``...) as descriptors.

HTML "Event handlers" (https://html.spec.whatwg.org/#event-handler-attributes):
each handler attribute of a target is a pair {value, listener}. The first
non-null assignment appends *one* internal listener to the target's list; later
assignments only change the value, so the handler keeps its place among the
other listeners; assigning null removes that listener. When the internal
listener runs it calls whatever the value is *at that moment*.

The pair is an ``EventHandlerState`` kept in the target's event handler map
(``EventTarget._event_handler_map``), keyed by event type.

Where a browser silently ignores a mistake (a handler that cannot be called,
``ws.onMessage = f`` on an attribute that is not a handler), the behaviour
stays the browser's and a ``W3CWSWarning`` says so.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, overload

from w3cws._warnings import warn

from .event import Event
from .event_target import EventTarget, _Listener

__all__ = ["EventHandler", "EventHandlerState", "warn_if_unknown_handler"]

Handler = Callable[[Any], object]


class EventHandlerState:
    """One handler of one target: its value and its internal listener record.

    Its ``process`` method is the internal listener's callback (a bound
    method: cheaper to call than the object through ``__call__``).
    """

    __slots__ = ("listener", "value")

    def __init__(self) -> None:
        self.value: Handler | None = None
        self.listener: _Listener | None = None

    def process(self, event: Event) -> object:
        # HTML "the event handler processing algorithm": call the *current* value.
        # An exception propagates to dispatch, which reports it.
        value = self.value
        if value is None:
            return None
        result = value(event)
        # Step 5: a return value of exactly False cancels (preventDefault rules).
        if result is False:
            event.preventDefault()
        # A coroutine goes back to dispatch, which hands it to the async runner.
        return result


class EventHandler:
    """Descriptor for an ``on<type>`` attribute: ``onopen = EventHandler("open")``.

    Reading gives the current handler or ``None``. Assigning a callable
    activates the handler; assigning ``None`` deactivates it. Any other value
    counts as ``None``: this is the Python reading of WebIDL
    ``[LegacyTreatNonObjectAsNull]`` (JS stores null for non-objects), applied
    to everything that cannot be called, so that a mistaken assignment such as
    a string removes the handler instead of failing at each event.
    """

    __slots__ = ("_type",)

    def __init__(self, type: str) -> None:
        self._type = type

    @overload
    def __get__(self, instance: None, owner: type[EventTarget]) -> EventHandler: ...

    @overload
    def __get__(self, instance: EventTarget, owner: type[EventTarget]) -> Handler | None: ...

    def __get__(
        self, instance: EventTarget | None, owner: type[EventTarget]
    ) -> EventHandler | Handler | None:
        if instance is None:
            return self
        state = instance._event_handler_map.get(self._type)
        return None if state is None else state.value

    def __set__(self, instance: EventTarget, value: object) -> None:
        handler_map = instance._event_handler_map
        state = handler_map.get(self._type)
        if not callable(value):
            if value is not None:
                warn(
                    f"{type(instance).__name__}.on{self._type} was set to {value!r}, which "
                    "cannot be called: the handler is removed, as a browser does. "
                    "Assign a function (or None to remove the handler)."
                )
            # Setter, value null: "deactivate an event handler".
            if state is not None:
                state.value = None
                if state.listener is not None:
                    instance._remove_listener(state.listener)
                    state.listener = None
            return
        if state is None:
            state = handler_map[self._type] = EventHandlerState()
        state.value = value
        # "activate an event handler": only the first activation adds a listener.
        if state.listener is None:
            state.listener = _Listener(
                self._type, state.process, capture=False, passive=False, once=False, signal=None
            )
            instance._add_listener(state.listener)


def warn_if_unknown_handler(target: EventTarget, name: str, value: object) -> None:
    """Warn when ``target.<name> = value`` looks like a handler but sets none.

    Called for attribute names starting with ``on``. A browser stores such
    an assignment as a plain property and never calls it; so does Python.
    The warning is for a misspelt handler (``onMessage``, ``on_message``,
    any casing of a real one) and for any callable assigned to an ``on...``
    name the class does not define.
    """
    cls = type(target)
    if hasattr(cls, name):
        return
    handlers = sorted(n for n in dir(cls) if isinstance(getattr(cls, n, None), EventHandler))
    folded = name.lower().replace("_", "")
    if folded not in handlers and not callable(value):
        return
    hint = folded if folded in handlers else None
    if hint is None:
        close = difflib.get_close_matches(folded, handlers, n=1)
        hint = close[0] if close else None
    advice = f"Did you mean {hint!r}?" if hint else f"Its handlers are {', '.join(handlers)}."
    warn(
        f"{cls.__name__} has no {name!r} event handler: the assignment sets a plain "
        f"attribute that nothing calls, as in a browser. {advice}"
    )
