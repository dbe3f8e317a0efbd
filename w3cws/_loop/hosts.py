"""Where a WebSocket's connection task runs, and how other threads reach it.

Theory of operation. Every connection is one trio task (``Connection.run``).
The constructor picks the trio run that hosts it (docs/notebooks.md tells
users the same):

1. **Inside a trio run** -- that run, as a system task (so the constructor
   needs no nursery, as ``new WebSocket()`` needs none) or in a nursery the
   caller passes in. The run belongs to the caller; when it ends, its sockets
   say Close 1001 and go away without events, as when a page unloads.
2. **On a thread whose asyncio loop is running** (a Jupyter kernel, an
   asyncio program) -- a trio *guest run* on that loop
   (``trio.lowlevel.start_guest_run``), one per loop, shared by its sockets.
   Trio code then runs on the loop's thread between the loop's callbacks, so
   handlers run there too, and a cell awaiting ``asyncio.sleep`` lets
   events in. Terminal IPython is the exception: it stops its loop at the
   prompt, so it gets case 3.
3. **Anywhere else** (a script, ``python -i``, a plain thread) -- one daemon
   thread running ``trio.run``, shared by those sockets.

Runs of cases 2 and 3 are ours: they count their sockets (and, on the
thread, the tasks of ``async def`` listeners) and end when the count drops
to zero, so they never outlive their sockets. That matters for guest runs:
trio allows one run per thread, and a guest run holds its thread, so a later
``trio.run`` there (IPython's ``%autoawait trio``, ipython/ipython#11829)
would be refused while it lives. A guest run also ends when asyncio.run()
cancels the leftover tasks of its loop, before the loop closes; the daemon
thread ends at interpreter exit (``atexit``). Either way open sockets send
Close 1001 where they can and become CLOSED without events.

Threads. :meth:`Host.call` is how ``send()``, ``close()`` and ``wait_for()``
reach the engine. On the host's own thread it runs the function at once: in
a trio task, or, for a guest run, from plain asyncio code, since trio lets
host-loop code call its synchronous APIs while a guest run is active. From
any other thread it hands the function to the host's thread, in call order,
and returns without waiting. Nothing ever blocks on the host's thread, so a
handler that calls back into its socket cannot deadlock. The one wait is in
the constructor off the background thread: the engine's connection object
must be made inside the run (its per-host connecting queue is run-local),
so the constructor waits for that thread to make it.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import trio

from w3cws._dom.event_target import report_exception, set_async_listener_runner

if TYPE_CHECKING:
    # asyncio is imported only by code that runs once a loop exists, so a
    # script that never uses asyncio does not pay for importing it.
    import asyncio

    import outcome

__all__ = ["Host", "start_connection"]

_log = logging.getLogger("w3cws.runtime")

# How long interpreter exit, or the end of an asyncio loop, waits for its
# sockets to say Close 1001 (the engine bounds each at about 2 s).
_SHUTDOWN_TIMEOUT = 3.0


class Hosted(Protocol):
    """The engine object a host runs: ``Connection`` in practice."""

    async def run(self) -> None:
        """Drive the connection to its end; never raises but for cancellation."""


_C = TypeVar("_C", bound=Hosted)


def _guarded(fn: Callable[..., object], args: tuple[object, ...]) -> None:
    # A callback handed to trio's run_sync_soon must not raise: trio would
    # crash the run, and with it every socket on it.
    try:
        fn(*args)
    except Exception:
        _log.exception("unexpected error in %r", fn)


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


class Host:
    """The trio run a connection lives on, as seen from the WebSocket object.

    This base class is a run that belongs to the caller (case 1).
    """

    __slots__ = ("_token",)

    def __init__(self, token: trio.lowlevel.TrioToken | None) -> None:
        self._token = token

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the host's thread: now if the caller is on it, else soon.

        Calls from one thread run in the order they were made. Once the run
        is over, nothing else touches the socket, so ``fn`` runs at once.
        """
        token = self._token
        if token is None or _current_token() is token:
            fn(*args)
            return
        try:
            token.run_sync_soon(_guarded, fn, args)
        except trio.RunFinishedError:
            fn(*args)


class _OwnedHost(Host):
    """A run w3cws started itself: it counts what it hosts and ends at zero."""

    __slots__ = ("_count", "_scope", "stopping")

    def __init__(self) -> None:
        super().__init__(None)
        self._count = 0
        self._scope = trio.CancelScope()
        self.stopping = False

    async def _main(self) -> None:
        # The run's main task: its return ends the run, and trio then cancels
        # the system tasks (the connections, which say Close 1001).
        with self._scope:
            await trio.sleep_forever()

    def _acquire(self) -> None:
        with _lock:
            self._count += 1

    def _release(self) -> None:
        """Drop one reference; the last one ends the run. On the run's thread."""
        with _lock:
            self._count -= 1
            if self._count > 0 or self.stopping:
                return
            self.stopping = True
        self._scope.cancel()

    async def _hosted(self, run: Callable[[], Coroutine[Any, Any, object]]) -> None:
        try:
            await run()
        finally:
            self._release()

    def _spawn(self, run: Callable[[], Coroutine[Any, Any, object]], name: str) -> None:
        trio.lowlevel.spawn_system_task(self._hosted, run, name=name)

    def _adopt_here(self, make: Callable[[], _C]) -> _C:
        """Make and start a connection; in the run, with a reference already taken."""
        try:
            hosted = make()
        except BaseException:
            self._release()
            raise
        self._spawn(hosted.run, "w3cws connection")
        return hosted


# Guards the registries below and the counts of owned hosts.
_lock = threading.Lock()
# Our runs by their token: a constructor or listener called on one finds it.
_owned: dict[trio.lowlevel.TrioToken, _OwnedHost] = {}
# The guest host of each loop, while it has a run (or one winding down).
_guests: dict[asyncio.AbstractEventLoop, _GuestHost] = {}


class _ThreadState:
    """The background-thread host in use, and whether the interpreter is exiting."""

    __slots__ = ("atexit_registered", "exiting", "host")

    def __init__(self) -> None:
        self.host: _ThreadHost | None = None
        self.exiting = False
        self.atexit_registered = False


_thread_state = _ThreadState()


# -- case 3: a background thread running trio.run --


class _ThreadHost(_OwnedHost):
    """``trio.run`` on a daemon thread, for code that runs no event loop."""

    __slots__ = ("_started", "thread")

    def __init__(self) -> None:
        super().__init__()
        self._started = threading.Event()
        # A daemon thread: interpreter exit does not wait for it (non-daemon
        # threads are joined before atexit handlers run, so a hang would be
        # possible); the atexit handler below ends it properly instead.
        self.thread = threading.Thread(target=self._thread_main, name="w3cws", daemon=True)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException:
            _log.exception("the w3cws background trio run failed")
        finally:
            with _lock:
                if self._token is not None:
                    _owned.pop(self._token, None)
                if _thread_state.host is self:
                    _thread_state.host = None
            self._started.set()

    async def _main(self) -> None:
        token = trio.lowlevel.current_trio_token()
        with _lock:
            self._token = token
            _owned[token] = self
        self._started.set()
        await super()._main()

    def adopt(self, make: Callable[[], _C]) -> _C:
        """Make the connection on the trio thread and start it (reference taken)."""
        self._started.wait()
        token = self._token
        if token is None:
            self._release()
            raise RuntimeError("the w3cws background trio run failed to start")
        if _current_token() is token:
            return self._adopt_here(make)
        try:
            return trio.from_thread.run_sync(self._adopt_here, make, trio_token=token)
        except trio.RunFinishedError:
            raise RuntimeError("the w3cws background trio run has ended") from None

    def stop(self) -> None:
        """End the run from any thread: its sockets say Close 1001."""
        token = self._token
        if token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(self._scope.cancel)


def _thread_host() -> _ThreadHost:
    """The shared background host with a reference taken, started if needed."""
    with _lock:
        if _thread_state.exiting:
            raise RuntimeError("the interpreter is exiting; WebSocket() cannot start now")
        host = _thread_state.host
        if host is None or host.stopping:
            host = _ThreadHost()
            _thread_state.host = host
            host.thread.start()
            if not _thread_state.atexit_registered:
                atexit.register(_stop_threads_at_exit)
                _thread_state.atexit_registered = True
        host._count += 1
    return host


def _stop_threads_at_exit() -> None:
    # Interpreter exit is the page unloading: each socket on a background
    # thread says Close 1001 if it can; exit waits a bounded time for that.
    with _lock:
        _thread_state.exiting = True
        hosts = [host for host in _owned.values() if isinstance(host, _ThreadHost)]
    for host in hosts:
        host.stop()
    deadline = time.monotonic() + _SHUTDOWN_TIMEOUT
    for host in hosts:
        host.thread.join(max(0.0, deadline - time.monotonic()))


# -- case 2: a trio guest run on a running asyncio loop --


def _forward_sigint(signum: int, frame: FrameType | None) -> None:
    signal.default_int_handler(signum, frame)


@contextlib.contextmanager
def _sigint_left_to_host() -> Iterator[None]:
    """Keep trio from taking SIGINT over while a guest run starts.

    trio installs its own SIGINT handler when it finds Python's default one
    (as ipykernel sets it while a cell runs). In guest mode that handler would
    send Ctrl-C to the guest run, ending every socket, instead of
    interrupting the cell. trio only looks at start time, so a stand-in that
    behaves like the default handler, for that moment, is enough.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, _forward_sigint)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is _forward_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)


class _GuestHost(_OwnedHost):
    """trio in guest mode on one asyncio loop; all its state lives on that loop's thread."""

    __slots__ = ("_closing", "_idle", "_keeper", "_pending", "_thread_id", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self._thread_id = threading.get_ident()
        # Connections made while a finished run was still winding down; the
        # next run starts them.
        self._pending: list[Callable[[], Coroutine[Any, Any, object]]] = []
        # Resolved when no run is left; the keeper task waits on it.
        self._idle: asyncio.Future[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the loop's thread: now if the caller is on it, else soon."""
        if threading.get_ident() == self._thread_id:
            fn(*args)
            return
        try:
            self.loop.call_soon_threadsafe(_guarded, fn, args)
        except RuntimeError:  # the loop is closed: nothing else runs there
            fn(*args)

    def adopt(self, make: Callable[[], _C]) -> _C:
        """Make and start a connection on this loop's guest run, starting one if needed."""
        if self._token is None:
            self._start()
        self._acquire()
        if not self.stopping:
            return self._adopt_here(make)
        # The run is ending but still installed on this thread: the connection
        # can be made now, and the next run starts it. (Its place in the
        # per-host connecting queue is the ending run's, which is empty.)
        try:
            hosted = make()
        except BaseException:
            self._release()
            raise
        self._pending.append(hosted.run)
        return hosted

    def _start(self) -> None:
        self._scope = trio.CancelScope()
        self.stopping = False
        # trio's tasks get copies of the context that starts the run. Start it
        # in an empty one: otherwise they would carry the context variables of
        # whichever cell came first, and ipykernel sends a print() to the cell
        # named in its context variable (with none set: the cell running now).
        contextvars.Context().run(self._start_guest_run)
        token = trio.lowlevel.current_trio_token()
        with _lock:
            self._token = token
            _owned[token] = self
        if self._idle is None or self._idle.done():
            self._idle = self.loop.create_future()
            self._keeper = self.loop.create_task(
                self._keep(self._idle), name="w3cws guest run keeper"
            )

    def _start_guest_run(self) -> None:
        with _sigint_left_to_host():
            trio.lowlevel.start_guest_run(
                self._main,
                run_sync_soon_threadsafe=self.loop.call_soon_threadsafe,
                run_sync_soon_not_threadsafe=self.loop.call_soon,
                done_callback=self._on_done,
                # The loop may rely on signal.set_wakeup_fd (asyncio does for
                # add_signal_handler); w3cws needs no trio signal handling, so
                # trio must leave the wakeup fd alone as runs come and go.
                host_uses_signal_set_wakeup_fd=True,
            )

    def _on_done(self, result: outcome.Outcome[None]) -> None:
        with _lock:
            if self._token is not None:
                _owned.pop(self._token, None)
        self._token = None
        try:
            result.unwrap()
        except BaseException:
            _log.exception("the w3cws trio guest run failed")
        pending, self._pending = self._pending, []
        if pending:
            self._start()
            for run in pending:
                self._spawn(run, "w3cws connection")
            if self._closing:
                self._scope.cancel()
        else:
            # Idle: forget this host; the loop's next socket makes a new one.
            with _lock:
                if _guests.get(self.loop) is self:
                    del _guests[self.loop]
            if self._idle is not None and not self._idle.done():
                self._idle.set_result(None)

    async def _keep(self, idle: asyncio.Future[None]) -> None:
        # asyncio.run() cancels the tasks left on its loop before closing it;
        # that is the signal to end the guest run first, so its sockets say
        # Close 1001 and trio is not left half-run on a closed loop.
        import asyncio

        try:
            await asyncio.shield(idle)
        except asyncio.CancelledError:
            self._closing = True
            if self._token is not None:
                self._scope.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(idle), _SHUTDOWN_TIMEOUT)
            raise


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running on this thread, if it keeps running between statements."""
    if "asyncio" not in sys.modules:  # then no loop can be running
        return None
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    # Terminal IPython runs a cell that awaits with run_until_complete on this
    # loop and stops it at the prompt: a guest run there would freeze.
    helpers = sys.modules.get("IPython.core.async_helpers")
    if helpers is not None and getattr(helpers, "_asyncio_event_loop", None) is loop:
        return None
    return loop


def _guest_host(loop: asyncio.AbstractEventLoop) -> _GuestHost:
    with _lock:
        host = _guests.get(loop)
        if host is None:
            host = _guests[loop] = _GuestHost(loop)
    return host


# -- picking the host --


def start_connection(make: Callable[[], _C], nursery: trio.Nursery | None) -> tuple[Host, _C]:
    """Make a connection with ``make()`` on the run that will host it, and start it.

    Args:
        make: builds the engine object; called inside the hosting trio run.
        nursery: run the connection in this nursery (of the current trio run)
            instead of as a system task.

    Returns:
        The host, through which the WebSocket reaches its connection, and the
        connection.

    Raises:
        RuntimeError: a nursery given outside a trio run, or a trio guest run
            of a loop that is no longer running is still active on this thread.
    """
    token = _current_token()
    if nursery is not None:
        if token is None:
            raise RuntimeError("nursery= needs WebSocket() to be created inside that trio run")
        hosted = make()
        nursery.start_soon(hosted.run)
        return Host(token), hosted
    if token is not None:
        owned = _owned.get(token)
        if isinstance(owned, _ThreadHost):
            owned._acquire()
            return owned, owned.adopt(make)
        if isinstance(owned, _GuestHost):
            if _running_loop() is not owned.loop:
                raise RuntimeError(
                    "a w3cws trio guest run is still active on this thread but its asyncio "
                    "loop is not running; let asyncio.run() finish that loop first"
                )
            return owned, owned.adopt(make)
        # Case 1: the caller's own trio run.
        hosted = make()
        trio.lowlevel.spawn_system_task(hosted.run, name="w3cws connection")
        return Host(token), hosted
    loop = _running_loop()
    if loop is not None:
        guest = _guest_host(loop)
        return guest, guest.adopt(make)
    thread_host = _thread_host()
    return thread_host, thread_host.adopt(make)


# -- async def listeners --

# asyncio keeps only weak references to tasks.
_asyncio_listener_tasks: set[asyncio.Task[None]] = set()


async def _run_listener(coro: Coroutine[Any, Any, object]) -> None:
    try:
        await coro
    except Exception as exc:
        report_exception(exc)


async def _run_counted_listener(host: _OwnedHost, coro: Coroutine[Any, Any, object]) -> None:
    try:
        await _run_listener(coro)
    finally:
        host._release()


def _start_async_listener(coro: Coroutine[Any, Any, object]) -> None:
    """Start the coroutine of an ``async def`` listener as a task.

    On an asyncio host (a guest run) it becomes an asyncio task, so it can
    await asyncio code like the cell around it; elsewhere a trio system task
    of the run that dispatched the event.
    """
    token = _current_token()
    owned = _owned.get(token) if token is not None else None
    loop = owned.loop if isinstance(owned, _GuestHost) else None
    if token is None:
        loop = _running_loop()
    if loop is not None:
        task = loop.create_task(_run_listener(coro), name="w3cws async listener")
        _asyncio_listener_tasks.add(task)
        task.add_done_callback(_asyncio_listener_tasks.discard)
        return
    if token is None:
        coro.close()
        report_exception(
            RuntimeError("an async listener was called outside any event loop; it did not run")
        )
        return
    if isinstance(owned, _ThreadHost):
        # Counted, so that the background run outlives the listener.
        owned._acquire()
        trio.lowlevel.spawn_system_task(
            _run_counted_listener, owned, coro, name="w3cws async listener"
        )
        return
    trio.lowlevel.spawn_system_task(_run_listener, coro, name="w3cws async listener")


set_async_listener_runner(_start_async_listener)
