"""w3cws: the browser's WebSocket (WHATWG WebSockets Standard), in Python.

The names below are the interfaces a browser script uses (``WebSocket``, the
events, ``EventTarget``, ``AbortController``, ``Blob`` and the
``DOMException`` family), with their WHATWG names; ``CloseCode``,
``CloseCodeInfo``, ``describe_close_code`` and ``W3CWSWarning`` are Python
extras beside them.
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
from w3cws._dom.event import CloseEvent, Event, MessageEvent
from w3cws._dom.event_target import EventTarget
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
    "DOMException",
    "Event",
    "EventTarget",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "SyntaxError",
    "W3CWSWarning",
    "WebSocket",
    "__version__",
    "describe_close_code",
]
