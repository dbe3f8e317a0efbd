"""Timers and microtasks: HTML "Timers" (8.6) and "Microtask queuing" (8.7).

A :class:`TimerList` is the "map of active timers" of one global: the ids,
the deadlines and the order in which timers fire. It owns no clock and no
thread; the loop that drives it (a script thread's loop, or a task of a trio
run) passes the time in and runs what comes due, one timer per task.

Microtasks are per thread: a trio run, an asyncio loop and a script's loop
each live on one thread, and a microtask runs on the thread that queued it.
Each loop calls :func:`checkpoint` after each task; the DOM dispatch calls it
after each listener, through the hook ``set_callback_checkpoint``, which is
installed by the first ``queueMicrotask``: until a program queues one, event
dispatch pays nothing for it (about 0.1 µs per listener after that).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable

from w3cws._dom.event_target import report_exception, set_callback_checkpoint

__all__ = ["Timer", "TimerList", "checkpoint", "queue_microtask", "thread_has_microtasks"]

# HTML 8.6 "timer initialization steps", steps 10-11: past 5 nested levels
# a timeout is at least 4 ms.
_MAX_NESTING = 5
_MIN_NESTED_MS = 4.0
# Timers above a year are surely a mistake (and would overflow some clocks).
_MAX_DELAY_MS = 365 * 24 * 3600 * 1000.0


def check_delay(delay: object) -> float:
    """The timeout in milliseconds as HTML reads it: negative (or NaN) is 0.

    Raises:
        TypeError: ``delay`` is not a number.
    """
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise TypeError(f"the delay must be a number of milliseconds, not {delay!r}")
    value = float(delay)
    if not value > 0:  # negative, zero or NaN (WebIDL long conversion gives 0)
        return 0.0
    return min(value, _MAX_DELAY_MS)


class Timer:
    """One active timer: what to call, when, and how it repeats."""

    __slots__ = (
        "args",
        "callback",
        "deadline",
        "delay_ms",
        "id",
        "nesting",
        "owner",
        "repeat",
        "seq",
    )

    def __init__(
        self,
        id: int,
        callback: Callable[..., object],
        args: tuple[object, ...],
        delay_ms: float,
        *,
        repeat: bool,
        nesting: int,
        owner: object,
    ) -> None:
        self.id = id
        # What set it, when that matters: the asyncio loop of a script's
        # thread, whose end clears its timers as a page unload does.
        self.owner = owner
        self.callback = callback
        self.args = args
        self.delay_ms = delay_ms
        self.repeat = repeat
        self.nesting = nesting
        self.deadline = 0.0
        self.seq = 0


class TimerList:
    """The active timers of one global, ordered by deadline then by start.

    The order rule of HTML 8.6 (a timer waits for every timer started before
    it with an equal or shorter timeout) follows from ordering by
    ``(deadline, start order)``: an earlier start with a timeout no longer
    never has a later deadline.

    Every method runs on the thread of the loop that owns the list, except
    :meth:`clear`, which only marks a timer dead (safe from any thread).
    """

    __slots__ = ("_heap", "_ids", "_nesting", "_seq", "active")

    def __init__(self) -> None:
        self.active: dict[int, Timer] = {}
        self._heap: list[tuple[float, int, Timer]] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        # The nesting level of the timer whose callback runs now (0: none).
        self._nesting = 0

    def add(
        self,
        callback: Callable[..., object],
        delay: object,
        args: tuple[object, ...],
        *,
        repeat: bool,
        now: float,
        owner: object = None,
    ) -> Timer:
        """Start a timer ``delay`` ms after ``now`` (seconds); its id is > 0 and new.

        Raises:
            TypeError: ``callback`` is not callable or ``delay`` not a number.
        """
        if not callable(callback):
            raise TypeError(
                f"the timer callback must be callable, not {type(callback).__name__} "
                "(a string of code, as browsers accept, is not supported)"
            )
        delay_ms = check_delay(delay)
        nesting = self._nesting + 1
        # Steps 10-11: deep nesting clamps the timeout to 4 ms.
        if nesting > _MAX_NESTING and delay_ms < _MIN_NESTED_MS:
            delay_ms = _MIN_NESTED_MS
        timer = Timer(
            next(self._ids), callback, args, delay_ms, repeat=repeat, nesting=nesting, owner=owner
        )
        self.active[timer.id] = timer
        self._schedule(timer, now)
        return timer

    def _schedule(self, timer: Timer, now: float) -> None:
        timer.deadline = now + timer.delay_ms / 1000.0
        timer.seq = next(self._seq)
        heapq.heappush(self._heap, (timer.deadline, timer.seq, timer))

    def clear(self, id: object) -> None:
        """clearTimeout/clearInterval: forget the timer; unknown ids do nothing."""
        if isinstance(id, int) and not isinstance(id, bool):
            self.active.pop(id, None)

    def clear_owned(self, owner: object) -> None:
        """Forget every timer set by ``owner``."""
        for id in [t.id for t in self.active.values() if t.owner is owner]:
            del self.active[id]

    def next_deadline(self) -> float | None:
        """When the next live timer is due, or None if none is active."""
        heap = self._heap
        while heap and self.active.get(heap[0][2].id) is not heap[0][2]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def fire_one(self, now: float) -> bool:
        """Run the first timer due at ``now`` (a task of its own); False if none is due.

        An interval is re-armed with the same timeout and id before its
        callback runs, so that clearing it from the callback stops it. A
        callback that raises is reported, as a listener's exception is.
        """
        deadline = self.next_deadline()
        if deadline is None or deadline > now:
            return False
        _, _, timer = heapq.heappop(self._heap)
        if timer.repeat:
            self._schedule(timer, now)
        else:
            del self.active[timer.id]
        outer, self._nesting = self._nesting, timer.nesting
        try:
            timer.callback(*timer.args)
        except Exception as exc:
            report_exception(exc)
        finally:
            self._nesting = outer
        checkpoint()
        return True


# -- microtasks --


class _Microtasks(threading.local):
    def __init__(self) -> None:
        self.queue: deque[Callable[[], object]] = deque()
        self.running = False


_microtasks = _Microtasks()
# Whether the checkpoint after each listener is installed (on first use).
_hooked = threading.Event()


def queue_microtask(callback: Callable[[], object]) -> bool:
    """Queue ``callback`` on this thread; True if the queue was empty before.

    Raises:
        TypeError: ``callback`` is not callable.
    """
    if not callable(callback):
        raise TypeError(f"queueMicrotask() needs a callable, not {type(callback).__name__}")
    if not _hooked.is_set():
        _hooked.set()
        set_callback_checkpoint(checkpoint)
    queue = _microtasks.queue
    queue.append(callback)
    return len(queue) == 1


def thread_has_microtasks() -> bool:
    """Whether this thread has microtasks waiting for a checkpoint."""
    return bool(_microtasks.queue)


def checkpoint() -> None:
    """HTML "perform a microtask checkpoint" on this thread.

    Runs every queued microtask, including those they queue, reporting the
    exceptions they raise. A checkpoint started from inside one does nothing
    (the spec's "performing a microtask checkpoint" flag).
    """
    state = _microtasks
    if state.running or not state.queue:
        return
    state.running = True
    try:
        queue = state.queue
        while queue:
            callback = queue.popleft()
            try:
                callback()
            except Exception as exc:
                report_exception(exc)
    finally:
        state.running = False
