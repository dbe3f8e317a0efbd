"""The pytest fixtures of w3cws, registered through the ``pytest11`` entry point.

Every pytest run in an environment where w3cws is installed loads this
module, so it imports nothing but pytest at load time: trio, the test server
and w3cws itself are imported by a fixture when a test asks for it. It lives
outside the ``w3cws`` package because importing any module of that package
runs ``w3cws/__init__.py``, which imports trio and the engine.

The fixtures are documented in :mod:`w3cws.testing.pytest_plugin`, the
public home of their types (``ServerFactory``, ``ClientFactory``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import ssl

    import trio

    from w3cws import WebSocket
    from w3cws.testing import Behavior, Server
    from w3cws.testing.fault_proxy import FaultProxy
    from w3cws.testing.intercept import InterceptServer, intercept
    from w3cws.testing.pytest_plugin import (
        ClientFactory,
        FaultProxyFactory,
        InterceptFactory,
        ServerFactory,
    )

__all__ = [
    "w3cws_client_factory",
    "w3cws_fault_proxy_factory",
    "w3cws_intercept",
    "w3cws_server",
    "w3cws_server_factory",
]

_CLOSE_WAIT_SECONDS = 5


class _Teardown:
    """Lets servers outlive the client sockets at teardown.

    pytest-trio tears independent fixtures down concurrently, so without this a
    server could go away while the client factory is still closing its sockets
    cleanly. Servers wait for ``clients_closed``, set at once unless the client
    factory is in use.
    """

    def __init__(self) -> None:
        import trio

        self.clients_closed = trio.Event()
        self.clients_closed.set()


@pytest.fixture
def _w3cws_teardown() -> _Teardown:
    return _Teardown()


@pytest.fixture
async def w3cws_server(_w3cws_teardown: _Teardown) -> AsyncIterator[Server]:
    """A running test server with the default behaviour."""
    from w3cws.testing import serve

    async with serve() as server:
        yield server
        await _w3cws_teardown.clients_closed.wait()


@pytest.fixture
async def w3cws_server_factory(_w3cws_teardown: _Teardown) -> AsyncIterator[ServerFactory]:
    """Start test servers on demand; every one stops at teardown."""
    import trio

    from w3cws.testing import serve

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
    import trio

    from w3cws import WebSocket

    sockets: list[WebSocket] = []

    def make(url: str, protocols: str | Sequence[str] | None = None, **kwargs: Any) -> WebSocket:
        ws = WebSocket(url, protocols, **kwargs)
        sockets.append(ws)
        return ws

    clients_closed = _w3cws_teardown.clients_closed = trio.Event()
    try:
        yield make
        closing: list[trio.Event] = []
        for ws in sockets:
            if ws.readyState != WebSocket.CLOSED:
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
    import trio

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
