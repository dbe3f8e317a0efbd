"""``w3cws.run()``, the timers and ``queueMicrotask``, on whichever loop the caller is in.

Which loop (HTML: the "relevant global" of the caller): inside a trio run,
that run (timers follow its clock, so ``trio.testing.MockClock`` drives
them); anywhere else, the calling thread's w3cws event loop (``loop``),
which an asyncio loop running on the thread serves too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

from w3cws._loop.loop import ThreadLoop, running_asyncio_loop
from w3cws._loop.timers import TimerList, checkpoint, queue_microtask

__all__ = [
    "clearInterval",
    "clearTimeout",
    "queueMicrotask",
    "run",
    "setInterval",
    "setTimeout",
]


class _TrioTimers:
    """The timers of one trio run, fired by one system task in order."""

    __slots__ = ("_scope", "timers")

    def __init__(self) -> None:
        self.timers = TimerList()
        self._scope: trio.CancelScope | None = None

    async def drive(self, token: trio.lowlevel.TrioToken) -> None:
        try:
            while True:
                deadline = self.timers.next_deadline()
                with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
                # One timer per turn: each is a task of its own, and socket
                # events may come in between.
                self.timers.fire_one(trio.current_time())
        finally:
            _trio_timers.pop(token, None)

    def add(
        self, callback: Callable[..., object], delay: object, args: tuple[object, ...], repeat: bool
    ) -> int:
        timer = self.timers.add(callback, delay, args, repeat=repeat, now=trio.current_time())
        scope = self._scope
        if scope is not None and timer.deadline < scope.deadline:
            scope.deadline = timer.deadline
        return timer.id


# The timers of each trio run that set one; an entry ends with its run.
_trio_timers: dict[trio.lowlevel.TrioToken, _TrioTimers] = {}


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


def _trio_timers_here(token: trio.lowlevel.TrioToken) -> _TrioTimers:
    found = _trio_timers.get(token)
    if found is None:
        found = _trio_timers[token] = _TrioTimers()
        trio.lowlevel.spawn_system_task(found.drive, token, name="w3cws timers")
    return found


def _add_timer(
    callback: Callable[..., object], delay: object, args: tuple[object, ...], repeat: bool
) -> int:
    token = _current_token()
    if token is not None:
        return _trio_timers_here(token).add(callback, delay, args, repeat)
    return ThreadLoop.current().add_timer(callback, delay, args, repeat)


def setTimeout(callback: Callable[..., object], delay: float = 0, *args: object) -> int:
    """Call ``callback(*args)`` once, ``delay`` milliseconds from now (HTML 8.6).

    It runs as a task of the caller's loop: never inside another callback.
    A negative delay counts as 0; past 5 nested levels at least 4 ms.

    Returns:
        The timer's id, an int > 0, for ``clearTimeout``.

    Raises:
        TypeError: ``callback`` is not callable or ``delay`` not a number.
    """
    return _add_timer(callback, delay, args, repeat=False)


def setInterval(callback: Callable[..., object], delay: float = 0, *args: object) -> int:
    """Call ``callback(*args)`` every ``delay`` milliseconds, keeping one id (HTML 8.6).

    Returns:
        The timer's id, an int > 0, for ``clearInterval``.

    Raises:
        TypeError: ``callback`` is not callable or ``delay`` not a number.
    """
    return _add_timer(callback, delay, args, repeat=True)


def _clear(id: object) -> None:
    token = _current_token()
    if token is not None:
        found = _trio_timers.get(token)
        if found is not None:
            found.timers.clear(id)
        return
    ThreadLoop.current().timers.clear(id)


def clearTimeout(id: int | None = None) -> None:
    """Cancel a timer by id; an unknown id or ``None`` does nothing.

    ``clearTimeout`` and ``clearInterval`` share one map, as in HTML.
    """
    _clear(id)


def clearInterval(id: int | None = None) -> None:
    """Cancel a timer by id; an unknown id or ``None`` does nothing."""
    _clear(id)


def queueMicrotask(callback: Callable[[], object]) -> None:
    """Run ``callback()`` at the next microtask checkpoint (HTML 8.7).

    That is right after the running listener, timer or task returns,
    before any other event. A callback that raises is reported like a
    listener's exception.

    Raises:
        TypeError: ``callback`` is not callable.
    """
    was_empty = queue_microtask(callback)
    if not was_empty:
        return
    # Queued outside any callback: make sure a checkpoint comes soon.
    token = _current_token()
    if token is not None:
        token.run_sync_soon(checkpoint)
        return
    asyncio_loop = running_asyncio_loop()
    if asyncio_loop is not None:
        asyncio_loop.call_soon(checkpoint)
    # Otherwise the thread's next w3cws.run() (or prompt) runs it first.


def run(*, timeout: float | None = None, until: Callable[[], object] | None = None) -> None:
    """Run this thread's w3cws event loop: dispatch its sockets' events and its timers.

    Returns when no socket made on this thread is connecting or open (its
    ``close`` event dispatched) and no timer is pending, as Node exits after
    a script; or, with ``until``, as soon as ``until()`` returns true (it is
    checked before the first task and after each one).

    Args:
        timeout: seconds; ``None`` waits as long as it takes.
        until: a condition, e.g. ``lambda: ws.readyState == ws.OPEN``.

    Raises:
        TimeoutError: ``timeout`` seconds passed first; the sockets are left
            as they are and their later events wait for the next ``run()``.
        RuntimeError: called inside a trio run or from a callback of this
            loop; or ``until`` was given and the loop ran out of work first.
        KeyboardInterrupt: Ctrl-C; the loop's sockets first say Close 1001.
    """
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0
    ):
        raise ValueError(f"timeout must be None or a number of seconds >= 0, not {timeout!r}")
    if until is not None and not callable(until):
        raise TypeError(f"until must be a callable or None, not {type(until).__name__}")
    if _current_token() is not None:
        raise RuntimeError(
            "w3cws.run() cannot be called inside a trio run: there trio runs the events; "
            "await ws.wait_for(...) or trio.sleep() instead"
        )
    if running_asyncio_loop() is not None:
        raise RuntimeError(
            "w3cws.run() cannot be called while an asyncio loop runs on this thread: that "
            "loop delivers the events; await ws.wait_for(...) or asyncio.sleep() instead"
        )
    ThreadLoop.current().run(timeout, until)
