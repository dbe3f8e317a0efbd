"""Test helpers: a real WebSocket server on loopback with scripted behaviours.

``async with serve(Behavior(...)) as server`` runs the server inside a trio
task; ``with ServerThread(...) as server`` runs it on a thread for code that
does not run trio. Each accepted connection gets a :class:`ConnectionRecord`
in ``server.connections``. The pytest fixtures live in
:mod:`w3cws.testing.pytest_plugin`; how the server works is described in
:mod:`w3cws.testing.server`.

Modules, one per role: :mod:`~w3cws.testing.actions` (the actions, their
:class:`Behavior` and the one grammar shared by the query string and ``w3cws
serve --script``), :mod:`~w3cws.testing.server` (the loopback server),
:mod:`~w3cws.testing.intercept` (the in-memory fake server a test drives),
:mod:`~w3cws.testing.fault_proxy` (faults between a client and a real server)
and :mod:`~w3cws.testing.pytest_plugin`.
"""

from w3cws.testing.actions import (
    Action,
    Behavior,
    Close,
    Delay,
    Drop,
    Ping,
    Send,
    SendFragments,
    Stall,
    apply_query,
    parse_script,
)
from w3cws.testing.fault_proxy import FaultProxy
from w3cws.testing.intercept import (
    BlockingConnection,
    BlockingInterceptServer,
    InterceptedConnection,
    InterceptServer,
    intercept,
)
from w3cws.testing.server import ConnectionRecord, Server, ServerThread, serve, tls_contexts

__all__ = [
    "Action",
    "Behavior",
    "BlockingConnection",
    "BlockingInterceptServer",
    "Close",
    "ConnectionRecord",
    "Delay",
    "Drop",
    "FaultProxy",
    "InterceptServer",
    "InterceptedConnection",
    "Ping",
    "Send",
    "SendFragments",
    "Server",
    "ServerThread",
    "Stall",
    "apply_query",
    "intercept",
    "parse_script",
    "serve",
    "tls_contexts",
]
