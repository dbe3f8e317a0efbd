"""w3cws: the browser's WebSocket (WHATWG WebSockets Standard), in Python.

The names below are the interfaces a browser script uses (``WebSocket``, the
events, ``CustomEvent``, ``EventTarget``, ``AbortController``, ``Blob`` and
the ``DOMException`` family) and the event loop's globals (``setTimeout``,
``setInterval``, their ``clear*`` twins, ``queueMicrotask``), with their
WHATWG names; ``run`` runs a thread's event loop; ``CloseCode``,
``CloseCodeInfo``, ``describe_close_code``, ``subscribe_trace``,
``TraceEvent`` and ``W3CWSWarning`` are Python extras beside them.
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
from w3cws._warnings import W3CWSWarning
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
    "W3CWSWarning",
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
