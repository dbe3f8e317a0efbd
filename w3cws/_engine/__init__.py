"""The connection engine, and the narrow interfaces between it and the WebSocket.

Both sides depend on a ``Protocol`` (``interfaces``), not on each other: the
WebSocket drives an :class:`Engine` (made by :func:`open_engine`), and the
engine reports what happens on the wire to an :class:`EngineListener`,
which the WebSocket implements with the WHATWG "feedback from the protocol"
steps (WS §4). The engine never imports ``_websocket``; tests drive each
side through a fake of the other.

Inside the engine, imports run one way: ``connection`` uses ``handshake``,
``writer``, ``transport`` and a frame codec (``codec``: the interface;
``fast_codec`` and ``wsproto_codec``: the two implementations; ``deflate``
and ``tap``: wsproto extensions); ``limits`` holds the defaults.
"""

from __future__ import annotations

from w3cws._engine.connection import Connection
from w3cws._engine.interfaces import ConnectOptions, Engine, EngineFactory, EngineListener
from w3cws._url import WebSocketURL

__all__ = ["ConnectOptions", "Engine", "EngineFactory", "EngineListener", "open_engine"]


def open_engine(url: WebSocketURL, options: ConnectOptions, listener: EngineListener) -> Engine:
    """The engine of a new WebSocket: a :class:`~w3cws._engine.connection.Connection`."""
    return Connection(url, options, listener)
