"""Where a WebSocket's connection task runs, and how other threads reach it.

Theory of operation. Every connection is one trio task (``Connection.run``).
The constructor picks the trio run that hosts it (docs/notebooks.md tells
users the same):

1. **Inside a trio run** -- that run, as a system task (so the constructor
   needs no nursery, as ``new WebSocket()`` needs none) or in a nursery the
   caller passes in. The engine reports straight to the socket, so events
   are dispatched by the engine's task: the fast path. The run belongs to
   the caller; when it ends, its sockets say Close 1001 and go away without
   events, as when a page unloads.
2. **Anywhere else** (a script, a plain thread, ``python -i``, an asyncio
   program or a Jupyter kernel) -- one daemon thread running ``trio.run``,
   shared by those sockets, does the network work. The engine reports to a
   stand-in (``loop.Feedback``) that queues each report as a task on the
   creating thread's w3cws event loop (``loop.ThreadLoop``), which
   dispatches it when that thread runs the loop: ``w3cws.run()``, an
   interactive prompt, or the asyncio loop running there. No trio run is
   ever held on the user's thread, so a later ``trio.run`` there (IPython's
   ``%autoawait trio``, ipython/ipython#11829) is never refused.

The background run is ours: it counts its sockets (and the tasks of
``async def`` listeners it runs) and ends when the count drops to zero, so
it never outlives them; at interpreter exit (``atexit``) it is cancelled, and
open sockets send Close 1001 where they can and become CLOSED without events.
Each connection runs in its own cancel scope, so one socket can be made to go
away alone (Ctrl-C in ``w3cws.run()``, the end of an asyncio loop).

Threads. :meth:`Host.call` is how ``send()`` and ``close()`` reach the
engine. On the host's own thread it runs the function at once, in a trio
task. From any other thread it hands the function to the host's thread, in
call order, and returns without waiting. Nothing ever blocks on the host's
thread, so a handler that calls back into its socket cannot deadlock. The one
wait is in the constructor off the background thread: the engine's
connection object must be made inside the run (its per-host connecting queue
is run-local), so the constructor waits for that thread to make it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import trio

from w3cws._dom.event_target import report_exception, set_async_listener_runner
from w3cws._loop.loop import Feedback, ThreadLoop, running_asyncio_loop

if TYPE_CHECKING:
    # asyncio is imported only by code that runs once a loop exists, so a
    # script that never uses asyncio does not pay for importing it.
    import asyncio

    from w3cws._engine import EngineListener

__all__ = ["Host", "start_connection"]

_log = logging.getLogger("w3cws.runtime")

# How long interpreter exit waits for its sockets to say Close 1001 (the
# engine bounds each at about 2 s).
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

    async def _hosted(
        self, run: Callable[[], Coroutine[Any, Any, object]], scope: trio.CancelScope
    ) -> None:
        try:
            with scope:
                await run()
        finally:
            self._release()

    def _spawn(
        self,
        run: Callable[[], Coroutine[Any, Any, object]],
        name: str,
        scope: trio.CancelScope | None = None,
    ) -> None:
        scope = trio.CancelScope() if scope is None else scope
        trio.lowlevel.spawn_system_task(self._hosted, run, scope, name=name)

    def _adopt_here(self, make: Callable[[], _C], scope: trio.CancelScope | None) -> _C:
        """Make and start a connection; in the run, with a reference already taken."""
        try:
            hosted = make()
        except BaseException:
            self._release()
            raise
        self._spawn(hosted.run, "w3cws connection", scope)
        return hosted


# Guards the registries below and the counts of owned hosts.
_lock = threading.Lock()
# Our runs by their token: a constructor or listener called on one finds it.
_owned: dict[trio.lowlevel.TrioToken, _OwnedHost] = {}


class _ThreadState:
    """The background-thread host in use, and whether the interpreter is exiting."""

    __slots__ = ("atexit_registered", "exiting", "host")

    def __init__(self) -> None:
        self.host: _ThreadHost | None = None
        self.exiting = False
        self.atexit_registered = False


_thread_state = _ThreadState()


# -- case 2: a background thread running trio.run --


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

    def adopt(self, make: Callable[[], _C], scope: trio.CancelScope | None = None) -> _C:
        """Make the connection on the trio thread and start it (reference taken).

        Cancelling ``scope`` (on the run's thread) makes this one connection
        go away: Close 1001, then no more events.
        """
        self._started.wait()
        token = self._token
        if token is None:
            self._release()
            raise RuntimeError("the w3cws background trio run failed to start")
        if _current_token() is token:
            return self._adopt_here(make, scope)
        try:
            return trio.from_thread.run_sync(self._adopt_here, make, scope, trio_token=token)
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


# -- picking the host --


def start_connection(
    make: Callable[[EngineListener], _C], socket: EngineListener, nursery: trio.Nursery | None
) -> tuple[Host | Feedback, _C, Feedback | None]:
    """Make a connection with ``make(listener)`` on the run that will host it, and start it.

    Args:
        make: builds the engine object that reports to ``listener``; called
            inside the hosting trio run.
        socket: the WebSocket, to which the engine's reports go.
        nursery: run the connection in this nursery (of the current trio run)
            instead of as a system task.

    Returns:
        What the WebSocket reaches its connection through (``.call``); the
        connection; and, when the socket belongs to a thread's w3cws event
        loop, the stand-in that queues the engine's reports there (it is
        also the first: it knows when the connection has ended).

    Raises:
        RuntimeError: a nursery given outside a trio run, or the interpreter
            is exiting.
    """
    token = _current_token()
    if nursery is not None:
        if token is None:
            raise RuntimeError("nursery= needs WebSocket() to be created inside that trio run")
        hosted = make(socket)
        nursery.start_soon(hosted.run)
        return Host(token), hosted, None
    if token is not None:
        owned = _owned.get(token)
        if isinstance(owned, _ThreadHost):
            # Made by an async listener running on the background run itself.
            owned._acquire()
            return owned, owned.adopt(lambda: make(socket)), None
        # Case 1: the caller's own trio run.
        hosted = make(socket)
        trio.lowlevel.spawn_system_task(hosted.run, name="w3cws connection")
        return Host(token), hosted, None
    # Case 2: the background run; reports go to this thread's event loop.
    thread_host = _thread_host()
    feedback = ThreadLoop.current().feedback(socket, thread_host)
    try:
        return feedback, thread_host.adopt(lambda: make(feedback), feedback.scope), feedback
    except BaseException:
        feedback.forget()
        raise


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

    In a trio run, a system task of that run. Where an asyncio loop runs
    (a notebook, an asyncio program), an asyncio task, so it can await
    asyncio code like the cell around it. Elsewhere (``w3cws.run()`` in a
    script) a trio task of the background run, which it keeps alive.
    """
    token = _current_token()
    if token is not None:
        owned = _owned.get(token)
        if isinstance(owned, _ThreadHost):
            owned._acquire()
            trio.lowlevel.spawn_system_task(
                _run_counted_listener, owned, coro, name="w3cws async listener"
            )
        else:
            trio.lowlevel.spawn_system_task(_run_listener, coro, name="w3cws async listener")
        return
    loop = running_asyncio_loop()
    if loop is not None:
        task = loop.create_task(_run_listener(coro), name="w3cws async listener")
        _asyncio_listener_tasks.add(task)
        task.add_done_callback(_asyncio_listener_tasks.discard)
        return
    try:
        host = _thread_host()
    except RuntimeError as exc:
        coro.close()
        report_exception(exc)
        return
    host._started.wait()
    host.call(_spawn_listener, host, coro)


def _spawn_listener(host: _ThreadHost, coro: Coroutine[Any, Any, object]) -> None:
    trio.lowlevel.spawn_system_task(_run_counted_listener, host, coro, name="w3cws async listener")


set_async_listener_runner(_start_async_listener)
