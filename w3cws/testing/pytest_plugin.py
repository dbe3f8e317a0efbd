"""pytest fixtures for testing with w3cws, loaded through the ``pytest11`` entry point.

Installing w3cws registers them in every pytest run; loading them costs
nothing until a test asks for one (the entry point is the small module
``_w3cws_pytest``, which imports trio and the server only then). This module
is the fixtures' documented home, with the types of the factories.

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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import _w3cws_pytest
from _w3cws_pytest import (
    w3cws_client_factory,
    w3cws_fault_proxy_factory,
    w3cws_intercept,
    w3cws_server,
    w3cws_server_factory,
)

if TYPE_CHECKING:
    from w3cws import WebSocket
    from w3cws.testing import Behavior, Server
    from w3cws.testing.fault_proxy import FaultProxy
    from w3cws.testing.intercept import InterceptServer

# For ``pytest_plugins = ["w3cws.testing.pytest_plugin"]`` without the entry
# point: the fixtures above depend on this one.
_w3cws_teardown = _w3cws_pytest._w3cws_teardown

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
