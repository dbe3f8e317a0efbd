"""Where a WebSocket's connection task runs, and the one door for async work.

Inside a trio task, the connection runs on that trio run as a system task
(so the constructor needs no nursery, as ``new WebSocket()`` needs none), or
under a nursery the caller passes in. A system task is cancelled when the
run's main task returns: the connection then says Close 1001 and goes away
without events, as a socket does when its page unloads.

``async def`` listeners are started here as tasks of the same run
(w3c-surface.md "Events"); their exceptions are reported like a listener's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import trio

from w3cws._event_target import report_exception, set_async_listener_runner

__all__ = ["Host", "start_connection"]


class Host:
    """The trio run a connection lives on, as seen from the WebSocket object.

    ``call`` is how ``send()`` and ``close()`` reach the engine: directly
    here, since the caller is a task of the same trio run.
    """

    __slots__ = ()

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the host's trio run, now and synchronously."""
        fn(*args)


_TRIO_HOST = Host()


def start_connection(run: Callable[[], Awaitable[None]], nursery: trio.Nursery | None) -> Host:
    """Start a connection task, in ``nursery`` or as a system task of this run.

    Returns:
        The host through which the WebSocket reaches its connection.

    Raises:
        RuntimeError: called outside a trio run with no nursery given.
    """
    if nursery is not None:
        nursery.start_soon(run)
        return _TRIO_HOST
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        raise RuntimeError(
            "WebSocket() must be created inside a trio task (or be given nursery=...); "
            "creating one from plain synchronous code or asyncio is not supported yet"
        ) from None
    trio.lowlevel.spawn_system_task(run, name="w3cws connection")
    return _TRIO_HOST


async def _run_listener(coro: Coroutine[Any, Any, object]) -> None:
    try:
        await coro
    except Exception as exc:
        report_exception(exc)


def _start_async_listener(coro: Coroutine[Any, Any, object]) -> None:
    try:
        trio.lowlevel.spawn_system_task(_run_listener, coro, name="w3cws async listener")
    except RuntimeError:
        coro.close()
        report_exception(
            RuntimeError("an async listener was called outside a trio run; it did not run")
        )


set_async_listener_runner(_start_async_listener)
