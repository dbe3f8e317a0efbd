"""Event, MessageEvent and CloseEvent: the DOM event objects a WebSocket fires.

DOM §2.2 (https://dom.spec.whatwg.org/#interface-event) gives every event a set
of internal flags (stop propagation, stop immediate propagation, canceled, in
passive listener, initialized, dispatch) besides its attributes. They live here
as private slots; ``event_target`` reads and writes them while dispatching.
Python has no ``document.createEvent()``, so every event is initialized from
the start and the initialized flag is left out.

Two ways to make an event:

- ``Event(type, eventInitDict)`` is the script-visible constructor (DOM §2.5):
  ``isTrusted`` is false.
- ``create_event(cls, type, **fields)`` is the UA's "create an event" used by
  the WebSocket implementation: same object, ``isTrusted`` true. The classes
  use ``__slots__`` and ``create_event`` stores the given fields straight
  into them, without the constructor's conversions.
- ``create_message_event(data, origin)`` is ``create_event`` for the one
  event made per received message, in one step.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from w3cws._close_codes import describe_close_code

from .webidl import usv_string

if TYPE_CHECKING:
    from .event_target import EventTarget

__all__ = [
    "CloseEvent",
    "CustomEvent",
    "Event",
    "MessageEvent",
    "create_event",
    "create_message_event",
]

# DOM §2.2 timeStamp is relative to the global's time origin; a process has
# no page, so one monotonic origin taken at import stands in for it.
_TIME_ORIGIN = monotonic()

E = TypeVar("E", bound="Event")


_PHASES = ("NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE")

# A MessageEvent's repr shows this many characters of text, or bytes of binary data.
_PREVIEW_TEXT = 40
_PREVIEW_BYTES = 16


def _preview(data: object) -> str:
    """A short view of a message's data, with its type and size."""
    if isinstance(data, str):
        shown = repr(data[:_PREVIEW_TEXT]) + ("..." if len(data) > _PREVIEW_TEXT else "")
        return f"{shown} (str, {len(data)} characters)"
    if isinstance(data, bytes | bytearray):
        shown = repr(bytes(data[:_PREVIEW_BYTES])) + ("..." if len(data) > _PREVIEW_BYTES else "")
        return f"{shown} ({type(data).__name__}, {len(data)} bytes)"
    return repr(data)


def _dom_string(value: object, what: str) -> str:
    """Check a DOMString argument; Python has no implicit ToString, so refuse non-str."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


class Event:
    """A DOM ``Event`` (DOM §2.2).

    Args:
        type: the event type, e.g. ``"open"``.
        eventInitDict: optional ``EventInit`` mapping with ``bubbles``,
            ``cancelable`` and ``composed`` (each false by default). Unknown
            keys are ignored, as for any WebIDL dictionary.
    """

    __slots__ = (
        "_bubbles",
        "_cancelable",
        "_canceled",
        "_composed",
        "_current_target",
        "_dispatch",
        "_event_phase",
        "_in_passive_listener",
        "_is_trusted",
        "_stop_immediate_propagation",
        "_stop_propagation",
        "_target",
        "_time_stamp",
        "_type",
    )
    _target: EventTarget | None
    _current_target: EventTarget | None

    NONE: ClassVar[int] = 0
    CAPTURING_PHASE: ClassVar[int] = 1
    AT_TARGET: ClassVar[int] = 2
    BUBBLING_PHASE: ClassVar[int] = 3

    def __init__(self, type: str, eventInitDict: Mapping[str, object] | None = None) -> None:
        # DOM §2.5 "inner event creation steps": defaults, then the init dictionary.
        self._initialize(_dom_string(type, "Event type"))
        if eventInitDict is not None:
            self._bubbles = bool(eventInitDict.get("bubbles", False))
            self._cancelable = bool(eventInitDict.get("cancelable", False))
            self._composed = bool(eventInitDict.get("composed", False))

    def _initialize(self, type: str) -> None:
        # Every slot at its default; subclasses extend this with their fields.
        self._type = type
        self._bubbles = False
        self._cancelable = False
        self._composed = False
        self._is_trusted = False
        self._time_stamp = (monotonic() - _TIME_ORIGIN) * 1000.0
        self._target = None
        self._current_target = None
        self._event_phase = Event.NONE
        self._dispatch = False
        self._stop_propagation = False
        self._stop_immediate_propagation = False
        self._canceled = False
        self._in_passive_listener = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}>"

    def _describe(self) -> str:
        # What repr() shows; subclasses put their fields after the type.
        phase = _PHASES[self._event_phase]
        return f"type={self._type!r} eventPhase={phase} isTrusted={self._is_trusted}"

    @property
    def type(self) -> str:
        """The event type, e.g. ``"message"``."""
        return self._type

    @property
    def target(self) -> EventTarget | None:
        """The object the event was dispatched at (kept after dispatch)."""
        return self._target

    @property
    def srcElement(self) -> EventTarget | None:
        """Legacy alias of ``target``."""
        return self._target

    @property
    def currentTarget(self) -> EventTarget | None:
        """The object whose listeners are running; ``None`` outside dispatch."""
        return self._current_target

    @property
    def eventPhase(self) -> int:
        """``NONE`` outside dispatch, ``AT_TARGET`` while a WebSocket's listeners run."""
        return self._event_phase

    @property
    def bubbles(self) -> bool:
        """Whether the event was created to bubble (irrelevant on a parentless target)."""
        return self._bubbles

    @property
    def cancelable(self) -> bool:
        """Whether ``preventDefault()`` can cancel the event."""
        return self._cancelable

    @property
    def composed(self) -> bool:
        """Whether the event would cross shadow-root boundaries."""
        return self._composed

    @property
    def defaultPrevented(self) -> bool:
        """True once a non-passive listener canceled a cancelable event."""
        return self._canceled

    @property
    def returnValue(self) -> bool:
        """Legacy inverse of ``defaultPrevented``; assigning ``False`` cancels.

        Assigning ``True`` does nothing (DOM §2.2: it cannot un-cancel).
        """
        return not self._canceled

    @returnValue.setter
    def returnValue(self, value: bool) -> None:
        if not value:
            self._set_canceled()

    @property
    def cancelBubble(self) -> bool:
        """Legacy alias of the stop propagation flag; assigning ``True`` sets it."""
        return self._stop_propagation

    @cancelBubble.setter
    def cancelBubble(self, value: bool) -> None:
        if value:
            self._stop_propagation = True

    @property
    def isTrusted(self) -> bool:
        """True for events the WebSocket fired, false for script-made ones."""
        return self._is_trusted

    @property
    def timeStamp(self) -> float:
        """Creation time in milliseconds since the process-wide time origin."""
        return self._time_stamp

    def composedPath(self) -> list[EventTarget]:
        """Return the event path: ``[target]`` during dispatch, else ``[]``.

        A WebSocket has no parent, so the path only ever holds the current
        target (DOM §2.2 ``composedPath()`` reduced to a one-item path).
        """
        current = self._current_target
        return [] if current is None else [current]

    def stopPropagation(self) -> None:
        """Stop the event from reaching listeners of later passes."""
        self._stop_propagation = True

    def stopImmediatePropagation(self) -> None:
        """Also skip the remaining listeners of the current pass."""
        self._stop_propagation = True
        self._stop_immediate_propagation = True

    def preventDefault(self) -> None:
        """Cancel the event, if it is cancelable and no passive listener runs."""
        self._set_canceled()

    def initEvent(self, type: str, bubbles: bool = False, cancelable: bool = False) -> None:
        """Legacy re-initialisation (DOM §2.2 ``initEvent()``); a no-op during dispatch."""
        if self._dispatch:
            return
        # DOM §2.2 "initialize": flags cleared, untrusted, no target.
        self._stop_propagation = False
        self._stop_immediate_propagation = False
        self._canceled = False
        self._is_trusted = False
        self._target = None
        self._type = _dom_string(type, "Event type")
        self._bubbles = bool(bubbles)
        self._cancelable = bool(cancelable)

    def _set_canceled(self) -> None:
        # DOM §2.2 "set the canceled flag".
        if self._cancelable and not self._in_passive_listener:
            self._canceled = True


class MessageEvent(Event):
    """A ``MessageEvent`` (HTML §9.2): what a WebSocket fires for each message.

    Args:
        type: the event type, ``"message"`` for a WebSocket.
        eventInitDict: optional ``MessageEventInit`` mapping: the ``EventInit``
            keys plus ``data`` (default ``None``), ``origin`` (``""``),
            ``lastEventId`` (``""``), ``source`` (``None``) and ``ports``
            (an iterable, default empty).
    """

    __slots__ = ("_data", "_last_event_id", "_origin", "_ports", "_source")
    _data: Any
    _origin: str
    _last_event_id: str
    _source: object
    _ports: list[object]

    def __init__(self, type: str, eventInitDict: Mapping[str, object] | None = None) -> None:
        super().__init__(type, eventInitDict)
        if eventInitDict is not None:
            init = eventInitDict
            self._data = init.get("data")
            self._origin = usv_string(_dom_string(init.get("origin", ""), "origin"))
            self._last_event_id = _dom_string(init.get("lastEventId", ""), "lastEventId")
            self._source = init.get("source")
            ports: Any = init.get("ports", ())
            self._ports = list(ports)

    def _initialize(self, type: str) -> None:
        super()._initialize(type)
        self._data = None
        self._origin = ""
        self._last_event_id = ""
        self._source = None
        self._ports = []

    def _describe(self) -> str:
        return f"type={self._type!r} data={_preview(self._data)} origin={self._origin!r}"

    @property
    def data(self) -> Any:
        """The message: ``str`` for text; ``Blob`` or ``bytes`` for binary."""
        return self._data

    @property
    def origin(self) -> str:
        """The serialized origin of the sender (the socket's URL for a WebSocket)."""
        return self._origin

    @property
    def lastEventId(self) -> str:
        """Always ``""`` for a WebSocket (used by server-sent events)."""
        return self._last_event_id

    @property
    def source(self) -> object:
        """Always ``None`` for a WebSocket (used by cross-document messaging)."""
        return self._source

    @property
    def ports(self) -> list[object]:
        """Always empty for a WebSocket (used by channel messaging)."""
        return self._ports


class CloseEvent(Event):
    """A ``CloseEvent`` (WebSockets §6): fired once when the connection closes.

    Args:
        type: the event type, ``"close"`` for a WebSocket.
        eventInitDict: optional ``CloseEventInit`` mapping: the ``EventInit``
            keys plus ``wasClean`` (default false), ``code`` (0; an unsigned
            short, so taken modulo 2**16 like WebIDL does) and ``reason``
            (``""``, converted as a USVString).
    """

    __slots__ = ("_code", "_reason", "_was_clean")
    _was_clean: bool
    _code: int
    _reason: str

    def __init__(self, type: str, eventInitDict: Mapping[str, object] | None = None) -> None:
        super().__init__(type, eventInitDict)
        if eventInitDict is not None:
            init = eventInitDict
            self._was_clean = bool(init.get("wasClean", False))
            code: Any = init.get("code", 0)
            # WebIDL "unsigned short" without [Clamp]/[EnforceRange]: wrap modulo 2**16.
            self._code = operator.index(code) & 0xFFFF
            self._reason = usv_string(_dom_string(init.get("reason", ""), "reason"))

    def _initialize(self, type: str) -> None:
        super()._initialize(type)
        self._was_clean = False
        self._code = 0
        self._reason = ""

    def _describe(self) -> str:
        info = describe_close_code(self._code)
        return (
            f"type={self._type!r} code={self._code} ({info.name or info.category}) "
            f"reason={self._reason!r} wasClean={self._was_clean}"
        )

    @property
    def wasClean(self) -> bool:
        """Whether the closing handshake completed."""
        return self._was_clean

    @property
    def code(self) -> int:
        """The close code (1005 if the peer sent none, 1006 if the connection failed)."""
        return self._code

    @property
    def reason(self) -> str:
        """The close reason the peer sent, or ``""``."""
        return self._reason


class CustomEvent(Event):
    """A ``CustomEvent`` (DOM §2.4): an event carrying any value in ``detail``.

    Ported code uses it for its own event buses: dispatch it on any
    ``EventTarget`` with ``dispatchEvent``.

    Args:
        type: the event type.
        eventInitDict: optional ``CustomEventInit`` mapping: the ``EventInit``
            keys plus ``detail`` (any object, default ``None``).
    """

    __slots__ = ("_detail",)
    _detail: object

    def __init__(self, type: str, eventInitDict: Mapping[str, object] | None = None) -> None:
        super().__init__(type, eventInitDict)
        if eventInitDict is not None:
            self._detail = eventInitDict.get("detail")

    def _initialize(self, type: str) -> None:
        super()._initialize(type)
        self._detail = None

    @property
    def detail(self) -> object:
        """The value given as ``detail`` at construction (``None`` if none)."""
        return self._detail

    def initCustomEvent(
        self,
        type: str,
        bubbles: bool = False,
        cancelable: bool = False,
        detail: object = None,
    ) -> None:
        """Legacy re-initialisation (DOM §2.4); a no-op during dispatch."""
        if self._dispatch:
            return
        self.initEvent(type, bubbles, cancelable)
        self._detail = detail


# IDL attribute name -> slot, for create_event().
_FIELD_SLOTS: dict[str, str] = {
    "bubbles": "_bubbles",
    "cancelable": "_cancelable",
    "composed": "_composed",
    "data": "_data",
    "origin": "_origin",
    "lastEventId": "_last_event_id",
    "source": "_source",
    "ports": "_ports",
    "wasClean": "_was_clean",
    "code": "_code",
    "reason": "_reason",
}


def create_event(cls: type[E], type: str, **fields: object) -> E:
    """Create a trusted event, as the UA does (DOM §2.5 "create an event").

    ``fields`` are IDL attribute names with their values, e.g.
    ``create_event(CloseEvent, "close", wasClean=True, code=1000, reason="")``.
    The values are stored as given, without the constructor's conversions:
    the caller (the WebSocket implementation) passes well-formed values. This
    keeps the cost of one event per received message low.

    Raises:
        KeyError: a field name is unknown.
    """
    event = cls.__new__(cls)
    event._initialize(type)
    event._is_trusted = True
    for name, value in fields.items():
        setattr(event, _FIELD_SLOTS[name], value)
    return event


def create_message_event(data: object, origin: str) -> MessageEvent:
    """``create_event(MessageEvent, "message", data=data, origin=origin)``, cheaper.

    A WebSocket makes one per received message, so every slot is set here
    at once instead of through the ``_initialize`` chain and the fields loop.
    """
    event = MessageEvent.__new__(MessageEvent)
    # Event._initialize, with isTrusted true (DOM §2.5 "create an event").
    event._type = "message"
    event._bubbles = False
    event._cancelable = False
    event._composed = False
    event._is_trusted = True
    event._time_stamp = (monotonic() - _TIME_ORIGIN) * 1000.0
    event._target = None
    event._current_target = None
    event._event_phase = Event.NONE
    event._dispatch = False
    event._stop_propagation = False
    event._stop_immediate_propagation = False
    event._canceled = False
    event._in_passive_listener = False
    # MessageEvent._initialize, with the two fields a WebSocket gives.
    event._data = data
    event._origin = origin
    event._last_event_id = ""
    event._source = None
    event._ports = []
    return event
