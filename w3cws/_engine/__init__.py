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
and ``tap``: wsproto extensions); ``limits`` holds the defaults. ``proxy``
(choosing and opening a tunnel), ``cookies`` and ``diagnostics`` (failure
causes, frame log, traces, the notebook view) serve ``transport``,
``handshake`` and ``connection``; the WebSocket sees of them only what this
module exports.
"""

from __future__ import annotations

from w3cws._engine.connection import Connection
from w3cws._engine.diagnostics import render_html, shown_url
from w3cws._engine.interfaces import ConnectOptions, Engine, EngineFactory, EngineListener
from w3cws._engine.proxy import Proxy, parse_proxy, proxy_for
from w3cws._url import WebSocketURL

__all__ = [
    "ConnectOptions",
    "Engine",
    "EngineFactory",
    "EngineListener",
    "Proxy",
    "open_engine",
    "parse_proxy",
    "proxy_for",
    "render_html",
    "shown_url",
]


def open_engine(url: WebSocketURL, options: ConnectOptions, listener: EngineListener) -> Engine:
    """The engine of a new WebSocket: a :class:`~w3cws._engine.connection.Connection`."""
    return Connection(url, options, listener)
