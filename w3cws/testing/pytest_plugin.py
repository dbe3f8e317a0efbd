"""pytest fixtures for testing with w3cws, loaded through the ``pytest11`` entry point.

The fixtures are ``async`` and need pytest-trio: either ``trio_mode = true`` in
the pytest configuration or ``@pytest.mark.trio`` on the test.

- ``w3cws_server``: a started :func:`~w3cws.testing.serve` server with the
  default behaviour (echo).
- ``w3cws_server_factory``: ``await make(behavior, **serve_kwargs)`` starts
  another server; all of them stop at teardown.
- ``w3cws_client_factory``: ``make(url, protocols=None, **kwargs)`` creates a
  :class:`w3cws.WebSocket`; at teardown every socket not yet CLOSED is closed
  and the fixture waits (5 s at most) for its ``close`` event.
- ``w3cws_fault_proxy_factory``: ``await make(target_url, **faults)`` starts a
  :class:`~w3cws.testing.FaultProxy`; all of them stop at teardown.
- ``w3cws_intercept``: ``server = w3cws_intercept(pattern, **options)``
  intercepts the matching URLs (see :class:`~w3cws.testing.intercept`) and
  returns the fake server; a wait for a connection or message that never
  comes fails the test with what was missing. At teardown every
  interception ends and what is still open is dropped.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import trio

from w3cws.testing.actions import Behavior
from w3cws.testing.server import Server, serve

if TYPE_CHECKING:
    from w3cws import WebSocket  # type: ignore[attr-defined, unused-ignore]
    from w3cws.testing.fault_proxy import FaultProxy
    from w3cws.testing.intercept import InterceptServer

__all__ = [
    "ClientFactory",
    "FaultProxyFactory",
    "InterceptFactory",
    "ServerFactory",
    "w3cws_client_factory",
    "w3cws_fault_proxy_factory",
    "w3cws_intercept",
    "w3cws_server",
    "w3cws_server_factory",
]

_CLOSE_WAIT_SECONDS = 5
_CLOSED = 3  # WebSocket.CLOSED


class ServerFactory(Protocol):
    """The type of ``w3cws_server_factory``: starts a server and returns it."""

    async def __call__(
        self,
        behavior: Behavior | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Server: ...


class ClientFactory(Protocol):
    """The type of ``w3cws_client_factory``: creates a WebSocket it will clean up."""

    def __call__(
        self, url: str, protocols: str | Sequence[str] | None = None, **kwargs: Any
    ) -> WebSocket: ...


class InterceptFactory(Protocol):
    """The type of ``w3cws_intercept``: starts intercepting and returns the fake server."""

    def __call__(self, pattern: str | Callable[[str], bool], **options: Any) -> InterceptServer: ...


class FaultProxyFactory(Protocol):
    """The type of ``w3cws_fault_proxy_factory``: starts a FaultProxy and returns it."""

    async def __call__(self, target_url: str, **faults: Any) -> FaultProxy: ...


class _Teardown:
    """Lets servers outlive the client sockets at teardown.

    pytest-trio tears independent fixtures down concurrently, so without this a
    server could go away while the client factory is still closing its sockets
    cleanly. Servers wait for ``clients_closed``, set at once unless the client
    factory is in use.
    """

    def __init__(self) -> None:
        self.clients_closed = trio.Event()
        self.clients_closed.set()


@pytest.fixture
def _w3cws_teardown() -> _Teardown:
    return _Teardown()


@pytest.fixture
async def w3cws_server(_w3cws_teardown: _Teardown) -> AsyncIterator[Server]:
    """A running test server with the default behaviour."""
    async with serve() as server:
        yield server
        await _w3cws_teardown.clients_closed.wait()


@pytest.fixture
async def w3cws_server_factory(_w3cws_teardown: _Teardown) -> AsyncIterator[ServerFactory]:
    """Start test servers on demand; every one stops at teardown."""
    # Each server runs in a task of this fixture's nursery, not in the test's
    # task, so that its own nursery opens and closes in one task.
    async with trio.open_nursery() as nursery:

        async def run(
            behavior: Behavior | None,
            host: str,
            port: int,
            ssl_context: ssl.SSLContext | None,
            *,
            task_status: trio.TaskStatus[Server],
        ) -> None:
            async with serve(behavior, host=host, port=port, ssl_context=ssl_context) as server:
                task_status.started(server)
                await trio.sleep_forever()

        async def make(
            behavior: Behavior | None = None,
            *,
            host: str = "127.0.0.1",
            port: int = 0,
            ssl_context: ssl.SSLContext | None = None,
        ) -> Server:
            server: Server = await nursery.start(run, behavior, host, port, ssl_context)
            return server

        yield make
        await _w3cws_teardown.clients_closed.wait()
        nursery.cancel_scope.cancel()


@pytest.fixture
async def w3cws_client_factory(_w3cws_teardown: _Teardown) -> AsyncIterator[ClientFactory]:
    """Create client WebSockets that are closed when the test ends."""
    from w3cws import WebSocket  # type: ignore[attr-defined, unused-ignore]

    sockets: list[WebSocket] = []

    def make(url: str, protocols: str | Sequence[str] | None = None, **kwargs: Any) -> WebSocket:
        ws: WebSocket = WebSocket(url, protocols, **kwargs)
        sockets.append(ws)
        return ws

    clients_closed = _w3cws_teardown.clients_closed = trio.Event()
    try:
        yield make
        closing: list[trio.Event] = []
        for ws in sockets:
            if ws.readyState != _CLOSED:
                closed = trio.Event()
                ws.addEventListener("close", lambda _event, closed=closed: closed.set())
                ws.close()
                closing.append(closed)
        with trio.move_on_after(_CLOSE_WAIT_SECONDS):
            for closed in closing:
                await closed.wait()
    finally:
        clients_closed.set()


@pytest.fixture
def w3cws_intercept() -> Iterator[InterceptFactory]:
    """Intercept WebSocket URLs for the test; every interception ends at teardown."""
    # Imported here: loading the plugin must not load the fake server.
    from w3cws.testing.intercept import intercept

    blocks: list[intercept] = []

    def make(pattern: str | Callable[[str], bool], **options: Any) -> InterceptServer:
        block = intercept(pattern, **options)
        server = block._start_async()
        blocks.append(block)
        return server

    try:
        yield make
    finally:
        for block in reversed(blocks):
            block._stop()


@pytest.fixture
async def w3cws_fault_proxy_factory(
    _w3cws_teardown: _Teardown,
) -> AsyncIterator[FaultProxyFactory]:
    """Start FaultProxy instances on demand; every one stops at teardown."""
    from w3cws.testing.fault_proxy import FaultProxy

    # As for servers: each proxy runs in a task of this fixture's nursery.
    async with trio.open_nursery() as nursery:

        async def run(
            target_url: str, faults: dict[str, Any], *, task_status: trio.TaskStatus[FaultProxy]
        ) -> None:
            async with FaultProxy(target_url, **faults) as proxy:
                task_status.started(proxy)
                await trio.sleep_forever()

        async def make(target_url: str, **faults: Any) -> FaultProxy:
            proxy: FaultProxy = await nursery.start(run, target_url, faults)
            return proxy

        yield make
        await _w3cws_teardown.clients_closed.wait()
        nursery.cancel_scope.cancel()
