"""w3cws: the browser's WebSocket (WHATWG WebSockets Standard), in Python.

The names below are the contract of ``w3c-surface.md``; ``CloseCode``,
``CloseCodeInfo`` and ``describe_close_code`` are Python extras beside it;
the event loop (``run``, the timers, ``queueMicrotask``) and ``CustomEvent``
are the additions listed at its end.
"""

from w3cws._close_codes import CloseCode, CloseCodeInfo, describe_close_code
from w3cws._dom.abort import AbortController, AbortSignal
from w3cws._dom.blob import Blob
from w3cws._dom.dom_exception import (
    DOMException,
    InvalidAccessError,
    InvalidStateError,
    SyntaxError,
)
from w3cws._dom.event import CloseEvent, CustomEvent, Event, MessageEvent
from w3cws._dom.event_target import EventTarget
from w3cws._engine.diagnostics import TraceEvent, subscribe_trace
from w3cws._loop.api import (
    clearInterval,
    clearTimeout,
    queueMicrotask,
    run,
    setInterval,
    setTimeout,
)
from w3cws._version import __version__
from w3cws._websocket import WebSocket

__all__ = [
    "AbortController",
    "AbortSignal",
    "Blob",
    "CloseCode",
    "CloseCodeInfo",
    "CloseEvent",
    "CustomEvent",
    "DOMException",
    "Event",
    "EventTarget",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "SyntaxError",
    "TraceEvent",
    "WebSocket",
    "__version__",
    "clearInterval",
    "clearTimeout",
    "describe_close_code",
    "queueMicrotask",
    "run",
    "setInterval",
    "setTimeout",
    "subscribe_trace",
]
