"""What happened on the wire: failure causes, the frame log, the trace API.

A browser's script learns nothing about why a WebSocket failed (an ``error``
event without detail, then ``close`` 1006), but DevTools does: the console
says "WebSocket connection to '…' failed: …" and the Network panel lists
every frame. Here the same goes to logging and to trace subscribers:

* ``w3cws.connection`` — one WARNING per failed connection, naming the URL
  and the cause;
* ``w3cws.frames`` — one DEBUG line per frame, through a per-socket
  :class:`logging.LoggerAdapter`;
* :func:`subscribe_trace` — every handshake, frame, close and error as a
  :class:`TraceEvent`, in the spirit of Node's ``diagnostics_channel``.

Each socket decides once, when it is created, whether it records anything
(:func:`recorder_for`): with the frame log off, no subscriber and not in a
notebook, it has no recorder and the engine's only cost is one ``is None``
test per frame.
"""

from __future__ import annotations

import contextlib
import html
import logging
import ssl
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TextIO

import trio

from w3cws._engine.handshake import HandshakeFailed
from w3cws._engine.proxy import ProxyError
from w3cws._engine.transport import describe_os_error
from w3cws._url import WebSocketURL

__all__ = [
    "Frame",
    "Recorder",
    "TraceEvent",
    "capture_failures",
    "describe_failure",
    "log_failure",
    "print_frames",
    "recorder_for",
    "render_html",
    "shown_url",
    "subscribe_trace",
]

failure_log = logging.getLogger("w3cws.connection")
frame_log = logging.getLogger("w3cws.frames")

# How many frames a socket keeps for its notebook view (DevTools "Messages").
LAST_FRAMES = 50
# How much of a payload a log line or the notebook view shows.
_PREVIEW = 60


class TraceEvent(NamedTuple):
    """One thing that happened to a WebSocket, for trace subscribers.

    Attributes:
        kind: ``"handshake-request"``, ``"handshake-response"``,
            ``"frame-sent"``, ``"frame-received"``, ``"error"`` or ``"close"``.
        socket: the :class:`~w3cws.WebSocket` it happened to.
        time: when, as :func:`time.time` (seconds since the epoch).
        data: what happened: ``headers`` (a list of name, value pairs) and
            ``status`` for the handshake; ``opcode`` (``"TEXT"``,
            ``"BINARY"``, ``"PING"``, ``"PONG"``, ``"CLOSE"``), ``payload``
            (str or bytes; for CLOSE: ``code`` and ``reason``) for frames;
            ``cause`` for errors; ``code``, ``reason``, ``wasClean`` for close.
    """

    kind: str
    socket: object
    time: float
    data: Mapping[str, Any]


Subscriber = Callable[[TraceEvent], object]
_subscribers: list[Subscriber] = []


def subscribe_trace(callback: Subscriber) -> Callable[[], None]:
    """Call ``callback`` with every :class:`TraceEvent` of sockets created from now on.

    The callback runs on the socket's event loop, synchronously, like a
    listener; an exception it raises is logged on ``w3cws.trace`` and
    otherwise ignored. Sockets created while nothing recorded (no
    subscriber, the frame log off, not in a notebook) are not traced.

    Returns:
        A function that unsubscribes ``callback`` (calling it twice is harmless).

    Raises:
        TypeError: ``callback`` is not callable.
    """
    if not callable(callback):
        raise TypeError(f"subscribe_trace() takes a callable, not {type(callback).__name__}")
    _subscribers.append(callback)

    def unsubscribe() -> None:
        if callback in _subscribers:
            _subscribers.remove(callback)

    return unsubscribe


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame as the log and the notebook view show it.

    Only its first characters or bytes are kept (bounded memory); the
    preview is made when shown, so a frame nobody looks at costs little.
    """

    sent: bool
    opcode: str
    head: str | bytes  # the first _PREVIEW characters or bytes; "CODE 'reason'" for CLOSE
    cut: bool  # the payload is longer than head
    size: int  # bytes (text counted in UTF-8)
    time: float

    @property
    def text(self) -> str:
        """The payload's start: text as its ``repr``, binary data in hex."""
        head = self.head
        if isinstance(head, str):
            if self.opcode == "CLOSE":
                return head
            return repr(head + "…" if self.cut else head)
        return head.hex(" ") + (" …" if self.cut else "")

    def __str__(self) -> str:
        """The frame log's line: ``> TEXT 'hello' [5 bytes]``, ``< CLOSE 1000 'bye'``."""
        arrow = ">" if self.sent else "<"
        if self.opcode == "CLOSE":
            return f"{arrow} CLOSE {self.text}"
        return f"{arrow} {self.opcode} {self.text} [{self.size} bytes]"


class _SocketAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each line with the socket's number and URL."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = self.extra or {}
        return f"[ws#{extra['socket_id']} {extra['url']}] {msg}", kwargs


class Recorder:
    """One socket's frame log, trace publishing and last frames.

    Args:
        socket: the WebSocket (the trace's ``socket``).
        socket_id: the engine's number for it, shown in log lines.
        url: its URL, shown in log lines.
        log: whether to write the frame log (DEBUG on ``w3cws.frames``).
    """

    def __init__(self, socket: object, socket_id: int, url: str, *, log: bool) -> None:
        self.socket = socket
        self.log = _SocketAdapter(frame_log, {"socket_id": socket_id, "url": url}) if log else None
        # The last frames, for the notebook view (bounded memory).
        self.frames: deque[Frame] = deque(maxlen=LAST_FRAMES)

    def _publish(self, kind: str, data: Mapping[str, Any]) -> None:
        if not _subscribers:
            return
        event = TraceEvent(kind, self.socket, time.time(), data)
        for callback in tuple(_subscribers):
            try:
                callback(event)
            except Exception:
                logging.getLogger("w3cws.trace").exception("trace subscriber %r failed", callback)

    def request(self, head: bytes) -> None:
        """The opening handshake's request head was sent."""
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(h.split(": ", 1)) for h in lines[1:] if ": " in h]
        if self.log is not None:
            self.log.debug("> %s", lines[0])
        self._publish("handshake-request", {"request": lines[0], "headers": headers})

    def response(self, status: int, fields: Mapping[bytes, Sequence[bytes]]) -> None:
        """The opening handshake's response head arrived."""
        headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, vs in fields.items() for v in vs
        ]
        if self.log is not None:
            self.log.debug("< HTTP %d", status)
        self._publish("handshake-response", {"status": status, "headers": headers})

    def frame(self, sent: bool, opcode: str, payload: str | bytes | memoryview) -> None:
        """A data, ping or pong frame was sent (queued) or received."""
        head: str | bytes
        if isinstance(payload, str):
            size = len(payload) if payload.isascii() else len(payload.encode("utf-8"))
            head, cut = payload[:_PREVIEW], len(payload) > _PREVIEW
        else:
            size = len(payload)
            head, cut = bytes(payload[:_PREVIEW]), size > _PREVIEW
        frame = Frame(sent, opcode, head, cut, size, time.time())
        self.frames.append(frame)
        if self.log is not None:
            # Formatted only if a handler writes it.
            self.log.debug("%s", frame)
        if _subscribers:
            data = bytes(payload) if isinstance(payload, memoryview) else payload
            self._publish(
                "frame-sent" if sent else "frame-received", {"opcode": opcode, "payload": data}
            )

    def close_frame(self, sent: bool, code: int | None, reason: str) -> None:
        """A Close frame was sent or received (``code`` None: an empty body)."""
        shown = "(no code)" if code is None else str(code)
        frame = Frame(sent, "CLOSE", f"{shown} {reason!r}", False, 0, time.time())
        self.frames.append(frame)
        if self.log is not None:
            self.log.debug("%s", frame)
        data = {"opcode": "CLOSE", "code": code, "reason": reason}
        self._publish("frame-sent" if sent else "frame-received", data)

    def closed(self, *, was_clean: bool, code: int, reason: str, cause: str | None) -> None:
        """The connection is closed; ``cause`` says why it failed (None: not failed)."""
        if cause is not None:
            self._publish("error", {"cause": cause})
        self._publish("close", {"code": code, "reason": reason, "wasClean": was_clean})


def recorder_for(socket: object, socket_id: int, url: str) -> Recorder | None:
    """The recorder for a new socket, or None when nothing would be recorded.

    A socket records when, at its creation, ``w3cws.frames`` is enabled for
    DEBUG (the frame log), a trace subscriber exists, or IPython is loaded
    (a notebook, whose view of the socket shows its last frames).
    """
    log = frame_log.isEnabledFor(logging.DEBUG)
    if not (log or _subscribers or "IPython" in sys.modules):
        return None
    return Recorder(socket, socket_id, url, log=log)


def describe_failure(exc: BaseException) -> str:
    """Why a connection failed, in the words of a browser console."""
    if isinstance(exc, ProxyError):
        return f"proxy failure: {exc}"
    if isinstance(exc, trio.BrokenResourceError) and isinstance(exc.__cause__, ssl.SSLError):
        exc = exc.__cause__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if type(exc) is TimeoutError and exc.errno is None:
        return f"timed out: {exc}"
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, HandshakeFailed):
        return f"opening handshake failed: {exc}"
    return str(exc) or type(exc).__name__


def shown_url(url: WebSocketURL) -> str:
    """The URL as logs show it: without the user name and password."""
    if not url.userinfo:
        return url.href
    return url.href.replace(url.userinfo + "@", "", 1)


def log_failure(url: str, cause: str) -> None:
    """The console's line: one WARNING on ``w3cws.connection``."""
    failure_log.warning("WebSocket connection to %r failed: %s", url, cause)


_STATES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")


def render_html(
    *,
    url: str,
    state: int,
    protocol: str,
    extensions: str,
    buffered_amount: int,
    frames: Sequence[Frame] | None,
) -> str:
    """A WebSocket as an HTML table, with its last frames like DevTools' Messages tab."""
    rows = [
        ("url", url),
        ("readyState", f"{state} ({_STATES[state]})"),
        ("protocol", protocol or "—"),
        ("extensions", extensions or "—"),
        ("bufferedAmount", str(buffered_amount)),
    ]
    parts = ['<div class="w3cws-websocket"><strong>WebSocket</strong><table>']
    parts += [f"<tr><th>{k}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in rows]
    parts.append("</table>")
    if frames is None:
        parts.append(
            "<p><em>Frames are kept for sockets created in a notebook, or while a "
            "trace subscriber or the frame log is on.</em></p>"
        )
    elif frames:
        parts.append(
            "<table><tr><th></th><th>opcode</th><th>data</th><th>bytes</th><th>time</th></tr>"
        )
        for frame in frames:
            arrow = "&#x2191;" if frame.sent else "&#x2193;"  # up: sent, down: received
            when = time.strftime("%H:%M:%S", time.localtime(frame.time))
            when += f".{int(frame.time * 1000) % 1000:03d}"
            parts.append(
                f"<tr><td>{arrow}</td><td>{frame.opcode}</td>"
                f"<td><code>{html.escape(frame.text)}</code></td>"
                f"<td>{frame.size}</td><td>{when}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p><em>No frames yet.</em></p>")
    parts.append("</div>")
    return "".join(parts)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def capture_failures() -> Iterator[list[str]]:
    """The failure lines logged while the block runs (what ``w3cws connect`` prints)."""
    lines: list[str] = []
    handler = _ListHandler(lines)
    failure_log.addHandler(handler)
    try:
        yield lines
    finally:
        failure_log.removeHandler(handler)


def print_frames(stream: TextIO) -> None:
    """Write the frame log to ``stream``, one line per frame (``w3cws connect -v``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    frame_log.addHandler(handler)
    frame_log.setLevel(logging.DEBUG)
