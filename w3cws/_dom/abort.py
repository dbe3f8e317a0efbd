"""AbortController and AbortSignal (DOM §3, https://dom.spec.whatwg.org/#aborting-ongoing-activities).

w3cws needs them for the ``signal`` option of ``addEventListener``: aborting
removes every listener registered with that signal. ``AbortSignal.timeout()``
and ``AbortSignal.any()`` are not provided (nothing in the WebSocket API uses
them, and a timeout would need an event loop in this loop-free module).
"""

from __future__ import annotations

from collections.abc import Callable

from .dom_exception import DOMException
from .event import Event, create_event
from .event_handlers import EventHandler
from .event_target import EventTarget

__all__ = ["AbortController", "AbortSignal"]


class AbortSignal(EventTarget):
    """A DOM ``AbortSignal``: tells whether, and why, an operation was aborted.

    As in browsers it cannot be constructed directly: get one from
    ``AbortController().signal`` or ``AbortSignal.abort(reason)``.
    """

    __slots__ = ("_abort_algorithms", "_reason")
    # DOM §3.2: the abort reason is "undefined" (None here) until aborted.
    _reason: object
    # DOM "abort algorithms", keyed so that one can be removed again.
    _abort_algorithms: dict[object, Callable[[], None]]

    onabort = EventHandler("abort")

    def __init__(self) -> None:
        raise TypeError("Illegal constructor: use AbortController().signal or AbortSignal.abort()")

    @classmethod
    def _create(cls) -> AbortSignal:
        signal = cls.__new__(cls)
        EventTarget.__init__(signal)
        signal._reason = None
        signal._abort_algorithms = {}
        return signal

    @staticmethod
    def abort(reason: object = None) -> AbortSignal:
        """Return a signal that is already aborted with ``reason``.

        Args:
            reason: any object; ``None`` means "not given" and yields a
                ``DOMException`` named ``"AbortError"``.
        """
        signal = AbortSignal._create()
        signal._reason = _reason_or_default(reason)
        return signal

    @property
    def aborted(self) -> bool:
        """Whether the signal has been aborted."""
        return self._reason is not None

    @property
    def reason(self) -> object:
        """The abort reason, or ``None`` while not aborted."""
        return self._reason

    def throwIfAborted(self) -> None:
        """Raise the abort reason if the signal is aborted.

        Python can only raise exceptions: a reason that is not one is raised
        as a ``DOMException`` named ``"AbortError"`` that names the reason.
        """
        reason = self._reason
        if reason is None:
            return
        if isinstance(reason, BaseException):
            raise reason
        raise DOMException(f"signal is aborted with reason {reason!r}", "AbortError")

    def _add_algorithm(self, key: object, algorithm: Callable[[], None]) -> None:
        # DOM §3.2 "add" an abort algorithm (a no-op once aborted).
        if self._reason is None:
            self._abort_algorithms[key] = algorithm

    def _remove_algorithm(self, key: object) -> None:
        # DOM §3.2 "remove" an abort algorithm.
        self._abort_algorithms.pop(key, None)

    def _signal_abort(self, reason: object) -> None:
        # DOM §3.2 "signal abort", steps 1-2 (no dependent signals: no any()).
        if self._reason is not None:
            return
        self._reason = _reason_or_default(reason)
        # "run the abort steps": the algorithms, then the abort event. The map is
        # swapped first because an algorithm may remove algorithms while running.
        algorithms, self._abort_algorithms = self._abort_algorithms, {}
        for algorithm in algorithms.values():
            algorithm()
        self._fire(create_event(Event, "abort"))


def _reason_or_default(reason: object) -> object:
    if reason is None:
        return DOMException("signal is aborted without reason", "AbortError")
    return reason


class AbortController:
    """A DOM ``AbortController``: owns a signal and aborts it on request."""

    __slots__ = ("_signal",)

    def __init__(self) -> None:
        self._signal = AbortSignal._create()

    @property
    def signal(self) -> AbortSignal:
        """The signal this controller aborts."""
        return self._signal

    def abort(self, reason: object = None) -> None:
        """Abort the signal: remove its listeners and fire ``abort`` (once only).

        Args:
            reason: any object; ``None`` means "not given" (an ``AbortError``).
        """
        self._signal._signal_abort(reason)
