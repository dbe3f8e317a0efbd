"""``await ws.wait_for(type)``: waiting for an event, from trio or from asyncio.

A Python extra: a browser script would set a handler and return, but a
notebook cell or a test wants to wait where it stands. Jupyter cells run on
asyncio and w3cws runs on trio, so the wait asks sniffio which library it is
in and waits with that library's primitives.

Each socket has one :class:`EventWatcher`. The socket tells it about each
event it dispatches (so no ``stopPropagation()`` hides one, and sockets
nobody waits on pay nothing); it remembers the first ``open``, ``error`` and
``close`` events: they fire at most once, and a notebook cell that waits
for ``open`` usually runs after the socket opened. Events of a type somebody
waits for that the script dispatches itself reach it through a capture
listener added on that first wait. Waits arm it from their own thread
and the socket's loop tells it about events from the loop's thread, so a
lock guards it; it answers a waiter through a callback that is safe from
any thread.

A socket made outside trio belongs to its thread's w3cws event loop; a wait
awaited on that same thread (``asyncio.run(ws.wait_for("open"))`` in a
script) lets the awaiting loop serve it, or the wait could never end.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import sniffio
import trio

from w3cws._dom.dom_exception import InvalidStateError
from w3cws._dom.event import Event
from w3cws._warnings import warn

if TYPE_CHECKING:
    from w3cws._dom.event_target import EventTarget
    from w3cws._loop.loop import Feedback

__all__ = ["EventWatcher", "wait_for_event"]

# Event types that a WebSocket dispatches at most once, and whose record
# ``wait_for`` returns to a late waiter.
_ONCE = ("open", "error", "close")
_WEBSOCKET_TYPES = ("open", "message", "error", "close")

# What a waiter is answered with: the event, or why it can never come.
Answer = Event | InvalidStateError
Deliver = Callable[[Answer], None]


class _Waiter:
    __slots__ = ("deliver", "type")

    def __init__(self, type: str, deliver: Deliver) -> None:
        self.type = type
        self.deliver = deliver


class EventWatcher:
    """Remembers a socket's once-only events and answers ``wait_for`` calls."""

    __slots__ = ("_ended", "_fired", "_lock", "_target", "_types", "_waiters")

    def __init__(self, target: EventTarget) -> None:
        self._target = target
        self._lock = threading.RLock()
        self._fired: dict[str, Event] = {}
        self._waiters: list[_Waiter] = []
        self._types: set[str] = set()
        # How the socket ended ("closed" or "went away"), once it did: then
        # none of its own events can come, though a script may still
        # dispatch events of other types.
        self._ended: str | None = None

    def _listen(self, type: str) -> None:
        # Only for a type somebody waits for, so that events the script
        # dispatches itself answer too; a socket's own events arrive through
        # ``seen`` at no cost to sockets nobody waits on.
        if type not in self._types:
            self._types.add(type)
            self._target.addEventListener(type, self._on_event, True)

    def _hopeless(self, waiter: _Waiter) -> bool:
        return self._ended is not None and waiter.type in _WEBSOCKET_TYPES

    def seen(self, event: Event) -> None:
        """The socket dispatched one of its own events (called after dispatch)."""
        # A message nobody waits for (most of them) changes nothing here:
        # skip the lock. The list is read in one step; a waiter that another
        # thread arms meanwhile is appended either before that read (then it
        # is seen, and answered under the lock) or after it, which is the
        # same as arming just after this event: it waits for the next one,
        # as it would had it taken the lock after us.
        if not self._waiters and event._type not in _ONCE:
            return
        with self._lock:
            self._seen(event)

    def _seen(self, event: Event) -> None:
        type = event.type
        if type in _ONCE:
            self._fired.setdefault(type, event)
            if type == "close":
                self._ended = "closed"
        if self._waiters:
            self._answer(event)

    def _on_event(self, event: Event) -> None:
        if not event.isTrusted:
            with self._lock:
                self._answer(event)

    def _answer(self, event: Event) -> None:
        type = event.type
        answered = [w for w in self._waiters if w.type == type or self._hopeless(w)]
        if not answered:
            return
        self._waiters = [w for w in self._waiters if w not in answered]
        for waiter in answered:
            waiter.deliver(event if waiter.type == type else self._never(waiter))

    def arm(self, waiter: _Waiter) -> None:
        """Answer ``waiter`` from the record, or keep it for the next event of its type."""
        with self._lock:
            self._arm(waiter)

    def _arm(self, waiter: _Waiter) -> None:
        fired = self._fired.get(waiter.type)
        if fired is not None:
            waiter.deliver(fired)
        elif self._hopeless(waiter):
            waiter.deliver(self._never(waiter))
        else:
            self._listen(waiter.type)
            self._waiters.append(waiter)

    def disarm(self, waiter: _Waiter) -> None:
        """Forget a waiter that gave up (timeout or cancellation)."""
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def discarded(self) -> None:
        """The hosting run ended: no event will come, so its waiters fail."""
        with self._lock:
            self._ended = "went away"
            hopeless = [w for w in self._waiters if self._hopeless(w)]
            self._waiters = [w for w in self._waiters if w not in hopeless]
            for waiter in hopeless:
                waiter.deliver(self._never(waiter))

    def _never(self, waiter: _Waiter) -> InvalidStateError:
        return InvalidStateError(f"the WebSocket {self._ended} without a {waiter.type!r} event")


def _unwrap(answer: Answer) -> Event:
    if isinstance(answer, InvalidStateError):
        raise answer
    return answer


def wait_for_event(
    watcher: EventWatcher, feedback: Feedback | None, type: str, timeout: float | None
) -> Coroutine[Any, Any, Event]:
    """Wait, in the calling task's library, for ``watcher`` to see a ``type`` event.

    Called from a trio or asyncio task, the wait starts at the call, before
    the first await: ``gather(ws.wait_for("open"), ws.wait_for("message"))``
    sees both events even if they are already queued.

    Raises:
        InvalidStateError: the socket closed or went away first.
        TimeoutError: no such event within ``timeout`` seconds.
        RuntimeError: not awaited in a trio or asyncio task.
    """
    if not isinstance(type, str):
        raise TypeError(f"type must be a str, not {type.__class__.__name__}")
    if timeout is not None and (isinstance(timeout, bool) or not timeout >= 0):
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")
    if type not in _WEBSOCKET_TYPES:
        # Only an event the script dispatches itself can answer: most likely a typo.
        warn(
            f"a WebSocket never fires {type!r} events, so wait_for({type!r}) returns only "
            "if the script dispatches one itself; its events are 'open', 'message', "
            "'error' and 'close'"
        )
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        # Not in a task yet (``asyncio.run(ws.wait_for(...))``): start on the first step.
        return _wait_later(watcher, feedback, type, timeout)
    return _start(library, watcher, feedback, type, timeout)


async def _wait_later(
    watcher: EventWatcher, feedback: Feedback | None, type: str, timeout: float | None
) -> Event:
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise RuntimeError("wait_for() must be awaited in a trio or asyncio task") from None
    return await _start(library, watcher, feedback, type, timeout)


def _start(
    library: str,
    watcher: EventWatcher,
    feedback: Feedback | None,
    type: str,
    timeout: float | None,
) -> Coroutine[Any, Any, Event]:
    if library == "trio":
        return _wait_trio(watcher, feedback, type, timeout)
    if library == "asyncio":
        return _wait_asyncio(watcher, feedback, type, timeout)
    raise RuntimeError(f"wait_for() works under trio and asyncio, not {library}")


def _wait_trio(
    watcher: EventWatcher, feedback: Feedback | None, type: str, timeout: float | None
) -> Coroutine[Any, Any, Event]:
    token = trio.lowlevel.current_trio_token()
    answered = trio.Event()
    results: list[Answer] = []

    def deliver(result: Answer) -> None:
        results.append(result)
        # If the waiting run is gone, so is the waiter.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(answered.set)

    waiter = _Waiter(type, deliver)
    watcher.arm(waiter)

    async def wait() -> Event:
        stop_serving = None if feedback is None else feedback.serve_with_trio(token)
        try:
            with trio.fail_after(math.inf if timeout is None else timeout):
                await answered.wait()
        except trio.TooSlowError:
            raise TimeoutError(f"no {type!r} event within {timeout} s") from None
        finally:
            if stop_serving is not None:
                stop_serving()
            if not results:
                watcher.disarm(waiter)
        return _unwrap(results[0])

    return wait()


def _wait_asyncio(
    watcher: EventWatcher, feedback: Feedback | None, type: str, timeout: float | None
) -> Coroutine[Any, Any, Event]:
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[Answer] = loop.create_future()

    def settle(result: Answer) -> None:
        if not future.done():
            future.set_result(result)

    def deliver(result: Answer) -> None:
        # If the waiting loop is closed, so is the waiter.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result)

    waiter = _Waiter(type, deliver)
    watcher.arm(waiter)

    async def wait() -> Event:
        stop_serving = None if feedback is None else feedback.serve_with_asyncio()
        try:
            result = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {type!r} event within {timeout} s") from None
        finally:
            if stop_serving is not None:
                stop_serving()
            if not future.done() or future.cancelled():
                watcher.disarm(waiter)
        return _unwrap(result)

    return wait()
