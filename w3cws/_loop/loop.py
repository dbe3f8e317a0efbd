"""A thread's w3cws event loop: run-to-completion for sockets made outside trio.

Theory of operation (HTML 8.1.7 "Event loops"). A socket made on a thread
that runs no trio (a script's main thread, a worker thread, an asyncio
program, a Jupyter kernel) has its network work done by the background trio
run (``hosts``), but belongs to the creating
thread's :class:`ThreadLoop`. The engine reports to a :class:`Feedback`
stand-in, which queues each report as one task; the loop runs the tasks on
its own thread, one at a time and in order, and only when the thread runs
the loop. Attributes change with their task (``readyState`` becomes OPEN in
the task that fires ``open``), so a script that has not yet given the loop
a turn still sees CONNECTING and cannot miss an event. The loop runs:

- in :meth:`ThreadLoop.run` (``w3cws.run()``), until no socket it owns is
  connecting or open and no timer is pending, or until a condition holds;
- through a *pump*: while an asyncio loop runs on the thread (a kernel, an
  asyncio program) each queued task is handed to it with
  ``call_soon_threadsafe``, and timers with ``call_at``; ``wait_for``
  awaited on the thread pumps for the time it waits;
- at an interactive prompt, in ``PyOS_InputHook`` (``interactive``).

The queue is the one structure touched from two threads (the background
run posts, the owner runs); a condition variable guards it. The timers and
the microtasks belong to the owner thread only.

Reports that carry no event stay direct: ``_on_sent`` (``bufferedAmount`` is
the network's count, as in a browser, where it drops while the script runs)
and ``_on_discarded`` (the socket went away: CLOSED at once, no events).
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import trio

from w3cws._loop import interactive
from w3cws._loop.timers import TimerList, checkpoint

if TYPE_CHECKING:
    # asyncio is imported only once a loop exists, so that a script that
    # never uses asyncio does not pay for importing it.
    import asyncio

    from w3cws._engine import EngineListener

__all__ = ["Feedback", "ThreadLoop", "running_asyncio_loop"]

_log = logging.getLogger("w3cws.runtime")

# How long the end of an asyncio loop waits for its sockets to say Close 1001.
_GOING_AWAY_TIMEOUT = 3.0


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running on this thread, if it keeps running between statements."""
    if "asyncio" not in sys.modules:  # then no loop can be running
        return None
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    # Terminal IPython runs a cell that awaits with run_until_complete on this
    # loop and stops it at the prompt: the prompt's input hook serves instead.
    helpers = sys.modules.get("IPython.core.async_helpers")
    if helpers is not None and getattr(helpers, "_asyncio_event_loop", None) is loop:
        return None
    return loop


class _Host(Protocol):
    def call(self, fn: Callable[..., object], *args: object) -> None: ...


class _Connection(Protocol):
    def abort_connecting(self) -> None: ...


# A queued task: what to call, with what, and how many events it fires.
_Task = tuple[Callable[..., object], tuple[object, ...], int]


class Feedback:
    """What the engine reports to for a loop-owned socket; queues each report as a task.

    The ``_on_*`` methods run on the background trio thread (the engine's
    task); the others on the owner thread.
    """

    __slots__ = (
        "_aborted",
        "_ended",
        "_established",
        "_loop",
        "_socket",
        "host",
        "live",
        "pump",
        "scope",
    )

    def __init__(
        self, loop: ThreadLoop, socket: EngineListener, host: _Host, pump: _Pump | None
    ) -> None:
        self._loop = loop
        self._socket = socket
        self.host = host
        # The pump of the asyncio loop the socket was made under: when that
        # loop ends, the socket goes away as on a page unload.
        self.pump = pump
        # Cancelled (on the trio thread) to make this one connection go away.
        self.scope = trio.CancelScope()
        # Until its close task ran (or it went away): keeps w3cws.run() running.
        self.live = True
        # Engine-side facts, only touched on the trio thread.
        self._established = False
        self._aborted = False
        self._ended = False

    # -- from the engine (the background trio thread) --

    def _on_established(self, protocol: str, extensions: str) -> None:
        self._established = True
        self._loop.post(self._socket._on_established, (protocol, extensions), 1)

    def _on_message(self, data: str | bytes) -> None:
        self._loop.post(self._socket._on_message, (data,), 1)

    def _on_closing_handshake_started(self) -> None:
        self._loop.post(self._socket._on_closing_handshake_started, (), 0)

    def _on_sent(self, nbytes: int) -> None:
        self._socket._on_sent(nbytes)

    def _on_closed(self, *, was_clean: bool, code: int, reason: str, failed: bool) -> None:
        self._ended = True
        self._loop.post(self._closed, (was_clean, code, reason, failed), 2 if failed else 1)

    def _on_discarded(self) -> None:
        self._ended = True
        if self._aborted:
            # close() in CONNECTING after the engine had opened: the script
            # sees the standard's failure (error, then close 1006).
            self._on_closed(was_clean=False, code=1006, reason="", failed=True)
            return
        self._socket._on_discarded()
        self._loop.forget(self)

    # -- from the socket's methods, on any thread --

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """``Host.call`` for this socket: ``fn(*args)`` on the trio thread, if still needed.

        The script may be behind the engine: it can still see OPEN when the
        connection has ended (its close task not yet run) and the
        background run is gone. Then there is nothing left to do.
        """
        self.host.call(self._unless_ended, fn, args)

    def _unless_ended(self, fn: Callable[..., object], args: tuple[object, ...]) -> None:
        if not self._ended:
            fn(*args)

    # -- on the owner thread --

    def _closed(self, was_clean: bool, code: int, reason: str, failed: bool) -> None:
        self._socket._on_closed(was_clean=was_clean, code=code, reason=reason, failed=failed)
        self._loop.forget(self)

    def abort_connecting(self, connection: _Connection) -> None:
        """close() while the script sees CONNECTING (WS §3.1 close step 3: fail).

        The engine may be ahead and open already; then the connection is
        dropped and the script still gets ``error`` and ``close`` 1006.
        """
        self.host.call(self._abort, connection)

    def _abort(self, connection: _Connection) -> None:  # on the trio thread
        if self._ended:
            return
        if self._established:
            self._aborted = True
            self.scope.cancel()
        else:
            connection.abort_connecting()

    def go_away(self) -> None:
        """Close 1001 and CLOSED without events, as when a page unloads."""
        self.call(self.scope.cancel)

    def forget(self) -> None:
        """The connection could not be made: the loop no longer counts the socket."""
        self._loop.forget(self)

    def serve_with_trio(self, token: trio.lowlevel.TrioToken) -> Callable[[], None] | None:
        """A trio run awaits this socket on its loop's thread: let it serve the loop.

        Returns:
            The undo, or None if the wait is on another thread.
        """
        if self._loop.thread is not threading.current_thread():
            return None
        return self._loop.pump_trio(token)

    def serve_with_asyncio(self) -> Callable[[], None] | None:
        """An asyncio loop awaits this socket on its loop's thread: let it serve the loop.

        Returns:
            The undo, or None if the wait is on another thread or that loop
            serves the thread's loop already.
        """
        if self._loop.thread is not threading.current_thread():
            return None
        return self._loop.pump_asyncio()


class _Pump(Protocol):
    """Runs the owner loop's tasks on its thread from another event loop."""

    def wake(self) -> None: ...

    def wake_at(self, deadline: float) -> None: ...


class _AsyncioPump:
    """Hands the loop's work to the asyncio loop running on its thread."""

    __slots__ = ("_handle", "_owner", "asyncio_loop")

    def __init__(self, owner: ThreadLoop, asyncio_loop: asyncio.AbstractEventLoop) -> None:
        self._owner = owner
        self.asyncio_loop = asyncio_loop
        self._handle: asyncio.TimerHandle | None = None

    def wake(self) -> None:
        try:
            self.asyncio_loop.call_soon_threadsafe(self._owner.drain)
        except RuntimeError:  # the loop is closed: w3cws.run() can still serve
            self._owner.detach(self)

    def wake_at(self, deadline: float) -> None:
        # On the owner thread (timers are only set there).
        if self._handle is not None:
            self._handle.cancel()
        if self.asyncio_loop.is_closed():
            return
        delay = max(0.0, deadline - time.monotonic())
        self._handle = self.asyncio_loop.call_later(delay, self._owner.drain)


class _TrioPump:
    """Hands the loop's tasks to a trio run on its thread while ``wait_for`` waits there."""

    __slots__ = ("_owner", "_token")

    def __init__(self, owner: ThreadLoop, token: trio.lowlevel.TrioToken) -> None:
        self._owner = owner
        self._token = token

    def wake(self) -> None:
        try:
            self._token.run_sync_soon(self._owner.drain)
        except trio.RunFinishedError:
            self._owner.detach(self)

    def wake_at(self, deadline: float) -> None:
        # Timers of the thread's loop wait for its next turn outside this run.
        return


class _Local(threading.local):
    def __init__(self) -> None:
        self.loop: ThreadLoop | None = None


_local = _Local()
# Every thread's loop while it lives (its thread or a socket holds it), for
# the warning at interpreter exit.
_all_loops: weakref.WeakSet[ThreadLoop] = weakref.WeakSet()
_all_lock = threading.Lock()
_warning_registered = threading.Event()


class ThreadLoop:
    """The w3cws event loop of one thread: a task queue, timers and live sockets."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self._cond = threading.Condition(threading.Lock())
        self._tasks: deque[_Task] = deque()
        self._pending_events = 0
        self._live: set[Feedback] = set()
        self._pump: _Pump | None = None
        self._pump_due = False
        self._asyncio_pump: _AsyncioPump | None = None
        self.timers = TimerList()
        # Whether a task, timer or microtask of this loop is running now.
        self._busy = False
        self.ran = False

    @classmethod
    def current(cls) -> ThreadLoop:
        """This thread's loop (made on first use), attached to a running asyncio loop."""
        loop = _local.loop
        if loop is None:
            loop = _local.loop = cls()
            with _all_lock:
                if not _warning_registered.is_set():
                    _warning_registered.set()
                    atexit.register(_warn_at_exit)
                _all_loops.add(loop)
            interactive.install_if_interactive(loop)
        asyncio_loop = running_asyncio_loop()
        if asyncio_loop is not None:
            loop._attach_asyncio(asyncio_loop)
        return loop

    # -- sockets --

    def feedback(self, socket: EngineListener, host: _Host) -> Feedback:
        """A new socket of this loop: the stand-in its engine reports to."""
        feedback = Feedback(self, socket, host, self._asyncio_pump)
        with self._cond:
            self._live.add(feedback)
        return feedback

    def forget(self, feedback: Feedback) -> None:
        """The socket is closed or gone: it no longer keeps the loop running."""
        with self._cond:
            feedback.live = False
            self._live.discard(feedback)
            self._cond.notify_all()

    def post(self, fn: Callable[..., object], args: tuple[object, ...], events: int) -> None:
        """Queue a task (from any thread); it runs on this loop's thread, in order."""
        with self._cond:
            self._tasks.append((fn, args, events))
            self._pending_events += events
            self._cond.notify_all()
            pump = self._pump
            if pump is None or self._pump_due:
                return
            self._pump_due = True
        pump.wake()

    def go_away_all(self) -> None:
        """Make every live socket of the loop go away (Close 1001, no events)."""
        with self._cond:
            live = list(self._live)
        for feedback in live:
            feedback.go_away()

    # -- timers --

    def add_timer(
        self, callback: Callable[..., object], delay: object, args: tuple[object, ...], repeat: bool
    ) -> int:
        """setTimeout/setInterval on this loop; returns the timer's id."""
        timer = self.timers.add(
            callback, delay, args, repeat=repeat, now=time.monotonic(), owner=self._asyncio_pump
        )
        pump = self._pump
        if pump is not None and not self._busy:
            pump.wake_at(timer.deadline)
        return timer.id

    # -- running --

    def _take(self) -> _Task | None:
        with self._cond:
            if not self._tasks:
                return None
            task = self._tasks.popleft()
            self._pending_events -= task[2]
            return task

    def _run_task(self, task: _Task) -> None:
        fn, args, _ = task
        try:
            fn(*args)
        except Exception:
            _log.exception("unexpected error in the w3cws task %r", fn)
        checkpoint()

    def drain(self) -> None:
        """Run what is ready now: queued tasks, due timers, microtasks (for pumps)."""
        with self._cond:
            self._pump_due = False
        if self._busy:  # called back from inside one of our own tasks
            return
        self._busy = True
        self.ran = True
        try:
            checkpoint()
            # The tasks queued so far; later ones come with the next wake.
            with self._cond:
                count = len(self._tasks)
            for _ in range(count):
                task = self._take()
                if task is None:
                    break
                self._run_task(task)
            while self.timers.fire_one(time.monotonic()):
                pass
        finally:
            self._busy = False
        pump = self._pump
        deadline = self.timers.next_deadline()
        if pump is not None and deadline is not None:
            pump.wake_at(deadline)

    def run(self, timeout: float | None, until: Callable[[], object] | None) -> None:
        """``w3cws.run()``: serve until idle, until ``until()`` is true, or time out.

        Raises:
            TimeoutError: ``timeout`` seconds passed first; nothing is closed.
            RuntimeError: called from one of this loop's own callbacks, or
                the loop went idle while ``until()`` was still false.
            KeyboardInterrupt: after making the loop's sockets go away (1001).
        """
        if self._busy:
            raise RuntimeError(
                "w3cws.run() was called from an event handler or timer of the loop it would "
                "run; return from the callback instead, and the loop carries on"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        self._busy = True
        self.ran = True
        try:
            while True:
                checkpoint()
                if until is not None and until():
                    return
                if not self._step(deadline, timeout):
                    if until is not None:
                        raise RuntimeError(
                            "w3cws.run(until=...): no socket is open or connecting and no "
                            "timer is pending, so the condition can no longer become true"
                        )
                    return
        except KeyboardInterrupt:
            # Ctrl-C: the script is leaving, as a page unloads.
            self.go_away_all()
            raise
        finally:
            self._busy = False

    def _step(self, deadline: float | None, timeout: float | None) -> bool:
        """Run one task or timer, waiting for one; False when the loop is idle."""
        with self._cond:
            while True:
                now = time.monotonic()
                due = self.timers.next_deadline()
                if due is not None and due <= now:
                    break
                if self._tasks:
                    task = self._tasks.popleft()
                    self._pending_events -= task[2]
                    break
                if not self._live and due is None:
                    return False
                if deadline is not None and now >= deadline:
                    raise TimeoutError(
                        f"w3cws.run() timed out after {timeout} s with {len(self._live)} "
                        "socket(s) open or connecting; call it again to go on"
                    )
                wait = None if due is None else due - now
                if deadline is not None:
                    wait = deadline - now if wait is None else min(wait, deadline - now)
                self._cond.wait(wait)
        if due is not None and due <= now:
            self.timers.fire_one(now)
        else:
            self._run_task(task)
        return True

    def serve_until(self, ready: Callable[[float], bool]) -> None:
        """Serve the loop until ``ready(seconds)`` (which may wait that long) is true.

        Used by the interactive prompt: ``ready`` waits for input on stdin.
        """
        while True:
            self.drain()
            due = self.timers.next_deadline()
            wait = 0.02 if due is None else min(0.02, max(0.0, due - time.monotonic()))
            if ready(wait):
                return

    # -- pumps --

    def _attach_asyncio(self, asyncio_loop: asyncio.AbstractEventLoop) -> None:
        pump = self._asyncio_pump
        if pump is not None and pump.asyncio_loop is asyncio_loop:
            return
        pump = _AsyncioPump(self, asyncio_loop)
        self._asyncio_pump = pump
        self._set_pump(pump)
        keeper = asyncio_loop.create_task(self._keep(pump), name="w3cws event loop keeper")
        _keepers.add(keeper)
        keeper.add_done_callback(_keepers.discard)

    async def _keep(self, pump: _AsyncioPump) -> None:
        # asyncio.run() cancels the tasks left on its loop before closing it:
        # the sockets made under that loop then go away (Close 1001, CLOSED,
        # no events) and its timers are cleared, as when a page unloads.
        import asyncio

        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            with self._cond:
                gone = [f for f in self._live if f.pump is pump]
            for feedback in gone:
                feedback.go_away()
            self.timers.clear_owned(pump)
            end = time.monotonic() + _GOING_AWAY_TIMEOUT
            while any(f.live for f in gone) and time.monotonic() < end:
                await asyncio.sleep(0.005)
            self.detach(pump)
            raise

    def _set_pump(self, pump: _Pump | None) -> None:
        with self._cond:
            self._pump = pump
            self._pump_due = pump is not None and bool(self._tasks)
        if pump is not None:
            if self._pump_due:
                pump.wake()
            deadline = self.timers.next_deadline()
            if deadline is not None:
                pump.wake_at(deadline)

    def detach(self, pump: _Pump) -> None:
        """Stop handing work to ``pump``'s loop (it ended)."""
        with self._cond:
            if self._pump is pump:
                self._pump = None
                self._pump_due = False
        if self._asyncio_pump is pump:
            self._asyncio_pump = None

    def pump_trio(self, token: trio.lowlevel.TrioToken) -> Callable[[], None]:
        """Let a trio run on this thread serve the loop for a while; returns the undo."""
        return self._serve_while(_TrioPump(self, token))

    def pump_asyncio(self) -> Callable[[], None] | None:
        """Let the asyncio loop running on this thread serve the loop for a while.

        Also a loop that stops between statements (terminal IPython's): it
        runs while a cell awaits. Returns the undo, or None if that loop
        serves this one already.
        """
        import asyncio

        asyncio_loop = asyncio.get_running_loop()
        attached = self._asyncio_pump
        if attached is not None and attached.asyncio_loop is asyncio_loop:
            return None
        return self._serve_while(_AsyncioPump(self, asyncio_loop))

    def _serve_while(self, pump: _Pump) -> Callable[[], None]:
        previous = self._pump
        self._set_pump(pump)

        def undo() -> None:
            with self._cond:
                if self._pump is pump:
                    self._pump = previous
                    self._pump_due = False
            if previous is not None:
                previous.wake()

        return undo

    # -- interpreter exit --

    def undelivered(self) -> tuple[int, int]:
        """Events queued and never dispatched, and sockets still live."""
        with self._cond:
            return self._pending_events, len(self._live)


# asyncio keeps only weak references to tasks.
_keepers: set[asyncio.Task[None]] = set()


def _warn_at_exit() -> None:
    # Registered after the background run's exit handler, so it runs first:
    # the count is taken before the sockets go away.
    with _all_lock:
        loops = list(_all_loops)
    events = sockets = 0
    for loop in loops:
        queued, live = loop.undelivered()
        events += queued
        if queued or not loop.ran:
            sockets += live
    if events or sockets:
        lost = (
            f"{events} WebSocket event(s) of {sockets} socket(s) were never dispatched"
            if events
            else f"the events of {sockets} socket(s) still connecting or open were never dispatched"
        )
        warnings.warn(
            f"{lost}: the thread that made them did not run the w3cws event loop. End the "
            "script with w3cws.run() to deliver them (it returns when every socket is closed).",
            RuntimeWarning,
            stacklevel=1,
        )
