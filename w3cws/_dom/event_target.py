"""EventTarget: the listener list and event dispatch (DOM §2.7-§2.9).

Theory of operation. A WebSocket has no parent, so DOM dispatch (§2.9)
reduces to two passes at phase AT_TARGET: first the capture listeners, then
the others. Dispatch only ever looks at the listeners of the event's type,
and each pass at one capture value, so a target keeps its records by type,
as two tuples in the order they were added: capture and non-capture. Adding
or removing a record replaces the tuple, so the tuple a pass starts with is
the DOM's clone of the list ("invoke", step 4) at no cost. A pass skips
records removed meanwhile and catches every listener's exception, so that
one bad listener stops neither the others nor the connection.

When the type has no capture listener, the capture pass would call nothing,
so nothing can change the list between the two passes: the bubble pass alone
runs, with the same snapshot and order (the common case for a WebSocket).

Three Python-only hooks live here, as module state, so that this module never
imports an event loop (trio, asyncio) and tests can run without one:

- ``set_exception_reporter``: where listener exceptions go (HTML "report an
  exception"); by default the ``w3cws`` logger at ERROR with the traceback.
- ``set_async_listener_runner``: who runs the coroutine an ``async def``
  listener returns; ``w3cws._loop`` installs one that starts a task.
- ``set_callback_checkpoint``: what runs after each listener callback; the
  event loop installs its microtask checkpoint (HTML 8.1.7 "clean up after
  running a callback": microtasks queued by a listener run before the next).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from w3cws._warnings import warn

from .dom_exception import InvalidStateError
from .event import Event

if TYPE_CHECKING:
    from .abort import AbortSignal
    from .event_handlers import EventHandlerState

__all__ = [
    "EventTarget",
    "report_exception",
    "set_async_listener_runner",
    "set_callback_checkpoint",
    "set_exception_reporter",
]

_logger = logging.getLogger("w3cws")

ExceptionReporter = Callable[[BaseException], None]
AsyncListenerRunner = Callable[[Coroutine[Any, Any, object]], None]
CallbackCheckpoint = Callable[[], None]


def _log_exception(exc: BaseException) -> None:
    _logger.error("Uncaught exception in an event listener", exc_info=exc)


class _Hooks:
    """The three replaceable hooks, in one object instead of module globals."""

    __slots__ = ("async_listener_runner", "callback_checkpoint", "exception_reporter")

    def __init__(self) -> None:
        self.exception_reporter: ExceptionReporter = _log_exception
        self.async_listener_runner: AsyncListenerRunner | None = None
        self.callback_checkpoint: CallbackCheckpoint | None = None


_hooks = _Hooks()


def set_exception_reporter(fn: ExceptionReporter | None) -> ExceptionReporter:
    """Replace the function that receives exceptions raised by listeners.

    Args:
        fn: called with each exception; ``None`` restores the default, which
            logs to the ``w3cws`` logger at ERROR with the traceback.

    Returns:
        The reporter that was installed before, to put it back later.
    """
    previous = _hooks.exception_reporter
    _hooks.exception_reporter = _log_exception if fn is None else fn
    return previous


def set_async_listener_runner(fn: AsyncListenerRunner | None) -> AsyncListenerRunner | None:
    """Install the function that runs coroutines returned by ``async def`` listeners.

    Args:
        fn: takes ownership of the coroutine (typically starts it as a task and
            reports its exception with ``report_exception``); ``None`` removes it.

    Returns:
        The runner that was installed before, to put it back later.
    """
    previous = _hooks.async_listener_runner
    _hooks.async_listener_runner = fn
    return previous


def set_callback_checkpoint(fn: CallbackCheckpoint | None) -> CallbackCheckpoint | None:
    """Install what runs after each listener callback (the microtask checkpoint).

    Args:
        fn: called with no arguments after every listener returns or raises;
            it must not raise. ``None`` removes it.

    Returns:
        The function that was installed before, to put it back later.
    """
    previous = _hooks.callback_checkpoint
    _hooks.callback_checkpoint = fn
    return previous


def report_exception(exc: BaseException) -> None:
    """Report an exception a listener raised and return (HTML "report an exception").

    Never raises: if a custom reporter fails, both exceptions are logged.
    """
    try:
        _hooks.exception_reporter(exc)
    except Exception as reporter_exc:
        _logger.error("The w3cws exception reporter raised", exc_info=reporter_exc)
        _log_exception(exc)


def _run_async_listener(coro: Coroutine[Any, Any, object]) -> None:
    runner = _hooks.async_listener_runner
    if runner is None:
        coro.close()  # never started: closing avoids a "never awaited" warning
        raise RuntimeError(
            "async event listeners need a running w3cws runtime; this one was not started"
        )
    runner(coro)


class _Listener:
    """An event listener record (DOM §2.7): what addEventListener stores."""

    __slots__ = ("callback", "capture", "once", "passive", "removed", "signal", "type")

    def __init__(
        self,
        type: str,
        callback: object,
        *,
        capture: bool,
        passive: bool,
        once: bool,
        signal: AbortSignal | None,
    ) -> None:
        self.type = type
        self.callback = callback
        self.capture = capture
        self.passive = passive
        self.once = once
        self.signal = signal
        self.removed = False


# One type's listener records, in the order added: (capture ones, the others).
_Passes = tuple[tuple[_Listener, ...], tuple[_Listener, ...]]
_NO_PASSES: _Passes = ((), ())

# DOM §2.7 AddEventListenerOptions: the dictionary members a browser reads.
_LISTENER_OPTIONS = frozenset({"capture", "once", "passive", "signal"})


def _warn_unknown_options(options: Mapping[str, object]) -> None:
    # A WebIDL dictionary ignores unknown members; a W3CWSWarning says so.
    unknown = ", ".join(repr(key) for key in options if key not in _LISTENER_OPTIONS)
    warn(
        f"addEventListener() ignores the unknown option(s) {unknown}, as a browser does; "
        "the options are 'capture', 'once', 'passive' and 'signal'"
    )


def _flatten_capture(options: object) -> bool:
    # DOM §2.7 "flatten": a bool-like value is capture; a dictionary has "capture".
    if isinstance(options, Mapping):
        return bool(options.get("capture", False))
    return bool(options)


class EventTarget:
    """A DOM ``EventTarget`` (DOM §2.7): add, remove and dispatch listeners.

    Subclasses (``WebSocket``, ``AbortSignal``) call ``super().__init__()``.
    """

    __slots__ = ("__weakref__", "_event_handler_map", "_listeners")

    def __init__(self) -> None:
        # DOM "event listener list", by type: (capture records, others).
        self._listeners: dict[str, _Passes] = {}
        # HTML "event handler map": one state per handler attribute that was used.
        self._event_handler_map: dict[str, EventHandlerState] = {}

    def addEventListener(
        self,
        type: str,
        callback: object,
        options: bool | Mapping[str, object] | None = None,
    ) -> None:
        """Append a listener, unless an equal one is already registered.

        Args:
            type: the event type to listen for.
            callback: a callable taking the event, an object with a
                ``handleEvent(event)`` method (looked up at each call), or
                ``None`` (ignored). Compared with ``==``, so a bound method
                can be passed again to remove it.
            options: a bool (capture) or a mapping with ``"capture"``,
                ``"once"``, ``"passive"`` and ``"signal"`` (an ``AbortSignal``).

        Raises:
            TypeError: ``signal`` is not an ``AbortSignal``.
        """
        # DOM §2.7 addEventListener() / "flatten more".
        once = passive = False
        signal: AbortSignal | None = None
        if isinstance(options, Mapping):
            if not _LISTENER_OPTIONS.issuperset(options):
                _warn_unknown_options(options)
            once = bool(options.get("once", False))
            passive = bool(options.get("passive", False))  # default passive: false here
            given = options.get("signal")
            if given is not None:
                from .abort import AbortSignal  # abort builds on this module

                if not isinstance(given, AbortSignal):
                    raise TypeError(
                        f"the signal option must be an AbortSignal, not {given.__class__.__name__}"
                    )
                signal = given
        capture = _flatten_capture(options)
        # DOM §2.7 "add an event listener", steps 2-3.
        if signal is not None and signal.aborted:
            return
        if callback is None:
            return
        # Step 4: an equal (type, callback, capture) record makes this a no-op.
        if self._find_listener(type, callback, capture) is not None:
            return
        record = _Listener(
            type, callback, capture=capture, passive=passive, once=once, signal=signal
        )
        self._add_listener(record)

    def removeEventListener(
        self,
        type: str,
        callback: object,
        options: bool | Mapping[str, object] | None = None,
    ) -> None:
        """Remove the listener with the same type, callback (``==``) and capture.

        Only ``capture`` in ``options`` matters, as in DOM §2.7.
        """
        record = self._find_listener(type, callback, _flatten_capture(options))
        if record is not None:
            self._remove_listener(record)

    def dispatchEvent(self, event: Event) -> bool:
        """Dispatch a script-made event synchronously; return ``not defaultPrevented``.

        Raises:
            TypeError: ``event`` is not an ``Event``.
            InvalidStateError: the event is being dispatched already.
        """
        # DOM §2.7 dispatchEvent(), steps 1-2.
        if not isinstance(event, Event):
            raise TypeError(f"dispatchEvent() needs an Event, not {type(event).__name__}")
        if event._dispatch:
            raise InvalidStateError("the event is already being dispatched")
        event._is_trusted = False
        return self._fire(event)

    def _fire(self, event: Event) -> bool:
        """Dispatch an event the UA created (``create_event``); keeps ``isTrusted``.

        Returns:
            ``not defaultPrevented``, as DOM §2.9 "dispatch" does.
        """
        # DOM §2.9 "dispatch", reduced to a parentless target: path == [self].
        event._dispatch = True
        event._target = self
        type = event._type
        passes = self._listeners.get(type)
        if passes is not None:
            event._event_phase = Event.AT_TARGET
            capturing = passes[0]
            if capturing:
                self._invoke(event, capturing)
                # The bubble pass clones the list as it is now: a non-capture
                # listener added by a capture listener runs in it.
                passes = self._listeners.get(type, _NO_PASSES)
            self._invoke(event, passes[1])
        # Step 12 onwards: reset, except target and the canceled flag.
        event._event_phase = Event.NONE
        event._current_target = None
        event._dispatch = False
        event._stop_propagation = False
        event._stop_immediate_propagation = False
        return not event._canceled

    def _invoke(self, event: Event, records: tuple[_Listener, ...]) -> None:
        # DOM §2.9 "invoke": skip the pass after stopPropagation(); otherwise run
        # the listeners of ``records``, the snapshot taken as the pass starts,
        # so ones added now wait for the next pass.
        if event._stop_propagation or not records:
            return
        event._current_target = self
        for record in records:
            # "inner invoke", step 2: skip records removed meanwhile.
            if record.removed:
                continue
            if record.once:
                self._remove_listener(record)
            if record.passive:
                event._in_passive_listener = True
            callback = record.callback
            try:
                if callable(callback):
                    result = callback(event)
                else:
                    # WebIDL "call a user object's operation": handleEvent is
                    # read at each call, so an object can swap it between events.
                    handle_event = getattr(callback, "handleEvent", None)
                    if not callable(handle_event):
                        raise TypeError(
                            f"event listener {callback!r} is neither callable "
                            "nor has a callable handleEvent"
                        )
                    result = handle_event(event)
                if result is not None and inspect.iscoroutine(result):
                    _run_async_listener(result)
            except Exception as exc:
                report_exception(exc)
            event._in_passive_listener = False
            # HTML 8.1.7 "clean up after running a callback": a microtask the
            # listener queued runs now, before the next listener.
            after = _hooks.callback_checkpoint
            if after is not None:
                after()
            if event._stop_immediate_propagation:
                return

    def _find_listener(self, type: str, callback: object, capture: bool) -> _Listener | None:
        # DOM §2.7: records are identified by type, callback and capture; the
        # callback with == so that bound methods match (each attribute access
        # makes a new bound method object).
        passes = self._listeners.get(type)
        if passes is not None:
            for record in passes[0] if capture else passes[1]:
                if record.callback == callback:
                    return record
        return None

    def _add_listener(self, record: _Listener) -> None:
        # DOM §2.7 "add an event listener", steps 4-5 (duplicates already ruled out).
        capturing, bubbling = self._listeners.get(record.type, _NO_PASSES)
        if record.capture:
            capturing = (*capturing, record)
        else:
            bubbling = (*bubbling, record)
        self._listeners[record.type] = (capturing, bubbling)
        if record.signal is not None:
            record.signal._add_algorithm(record, functools.partial(self._remove_listener, record))

    def _remove_listener(self, record: _Listener) -> None:
        # DOM §2.7 "remove an event listener": mark it so a running dispatch skips it.
        record.removed = True
        capturing, bubbling = self._listeners[record.type]
        if record.capture:
            capturing = tuple(other for other in capturing if other is not record)
        else:
            bubbling = tuple(other for other in bubbling if other is not record)
        if capturing or bubbling:
            self._listeners[record.type] = (capturing, bubbling)
        else:
            del self._listeners[record.type]
        # Not in the DOM steps: forget the abort algorithm as well, so that a
        # long-lived signal does not keep removed listeners (and us) alive.
        if record.signal is not None:
            record.signal._remove_algorithm(record)
