"""The WebSocket interface (WHATWG WebSockets Standard, WS §3-4).

https://websockets.spec.whatwg.org/#the-websocket-interface

This class owns ``readyState``: every transition goes through
:meth:`WebSocket._set_state`, so one search finds them all, and the state
never moves backwards. It opens no socket and imports no wsproto: the engine
(``_engine/connection.py``) does the wire work and reports back through the
``_on_*`` methods below, which are the standard's "feedback from the
protocol" steps (WS §4). The engine calls them from its own task, never from
inside ``send()`` or ``close()``, so every event is dispatched from the event
loop as in a browser: the caller's trio run, or, for a socket made outside
trio, the creating thread's w3cws event loop (``_loop/loop.py``), which runs
each report as a task of its own.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import trio

from w3cws._checks import TOKEN, check_close_arguments, check_protocols
from w3cws._dom.blob import Blob
from w3cws._dom.dom_exception import DOMException, InvalidStateError, failed_call
from w3cws._dom.event import CloseEvent, Event, create_event, create_message_event
from w3cws._dom.event_handlers import EventHandler, warn_if_unknown_handler
from w3cws._dom.event_target import EventTarget
from w3cws._dom.webidl import usv_string
from w3cws._engine import (
    ConnectOptions,
    Engine,
    EngineFactory,
    EngineListener,
    Proxy,
    limits,
    open_engine,
    parse_proxy,
    proxy_for,
    render_html,
    shown_url,
)
from w3cws._loop.hosts import start_connection
from w3cws._loop.wait import EventWatcher, wait_for_event
from w3cws._url import WebSocketURL, parse_websocket_url
from w3cws._warnings import warn

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

__all__ = ["WebSocket"]

BinaryType = Literal["blob", "arraybuffer"]

# Timers above a year are surely a mistake (and float() of a huge int fails).
_MAX_SECONDS = 365 * 24 * 3600.0

# Request headers the opening handshake owns (RFC 6455 §4.1); ``headers=``
# cannot replace them without breaking the handshake.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)


def _check_header_value(name: str, value: str) -> str:
    """The value as sent: Fetch's "normalize" (no leading or trailing spaces
    or tabs); line breaks, NUL and characters past latin-1 are errors."""
    if any(c in value for c in "\r\n\0") or not all(ord(c) < 256 for c in value):
        raise ValueError(
            f"the value of header {name!r} must be latin-1 text without line breaks: {value!r}"
        )
    return value.strip(" \t")


def _check_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    checked = []
    for item in items:
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("headers must map str names to str values")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(
                f"the {name!r} header belongs to the WebSocket handshake; leave it out"
            )
        # RFC 9110 §5.1: a field name is a token.
        if not TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        checked.append((name, _check_header_value(name, value)))
    return tuple(checked)


def _convert_data(data: object) -> tuple[str | bytes | memoryview, int]:
    """send()'s argument as WebIDL converts it, with its size in bytes.

    Raises:
        TypeError: ``data`` is not str, bytes-like or a Blob.
    """
    if isinstance(data, str):
        if data.isascii():
            return data, len(data)
        text = usv_string(data)
        return text, len(text.encode("utf-8"))
    if isinstance(data, bytes):
        return data, len(data)
    if isinstance(data, bytearray | memoryview):
        # The bytes as they are at the call (a later change must not show).
        copy = bytes(data) if isinstance(data, bytearray) else data.tobytes()
        return copy, len(copy)
    if isinstance(data, Blob):
        return data._view(), data.size
    raise TypeError(
        f"Failed to execute 'send' on 'WebSocket': the data must be str, bytes, "
        f"bytearray, memoryview or Blob, not {type(data).__name__}"
    )


class _Shared:
    """bufferedAmount, and one lock for it and readyState.

    send() and close() may run on any thread, the engine's feedback on the
    host's. Kept out of the socket so that changing the count (once per
    send) does not go through ``WebSocket.__setattr__``.
    """

    __slots__ = ("buffered_amount", "lock")

    def __init__(self) -> None:
        self.buffered_amount = 0
        self.lock = threading.Lock()


def _choose_proxy(proxy: str | Literal[True] | None, url: WebSocketURL) -> Proxy | None:
    """The ``proxy=`` argument as a proxy, or None for a direct connection."""
    if proxy is None:
        return None
    if proxy is True:
        return proxy_for(url.host, url.port, secure=url.secure)
    if not isinstance(proxy, str):
        raise TypeError(f"proxy must be a URL str, None or True, not {proxy!r}")
    return parse_proxy(proxy)


class WebSocket(EventTarget):
    """A WebSocket, as ``new WebSocket(url, protocols)`` in a browser.

    The constructor validates its arguments, then returns at once with
    ``readyState == CONNECTING``; the connection is made in the background
    and reported through events (``open``, ``message``, ``error``, ``close``).

    Args:
        url: a ``ws:``, ``wss:``, ``http:`` or ``https:`` URL, or a relative
            one with ``base_url``.
        protocols: one subprotocol or a sequence of them, offered in order.
        base_url: plays the page's URL for resolving a relative ``url``.
        nursery: run the connection in this nursery instead of as a system
            task of the current trio run.
        headers: extra request headers (not the handshake's own).
        origin: value of the ``Origin`` header; browsers always send their
            page's origin, w3cws sends none unless given one.
        ssl_context: TLS settings for ``wss:``; default: verify against the
            system trust store.
        deflate: offer permessage-deflate as Chromium does (default True).
        max_message_size: fail the connection (close code 1009 on the wire)
            on a received message of more bytes (text counted in UTF-8).
        max_handshake_size: fail the connection on a larger HTTP response head.
        close_timeout: seconds to wait for the server's Close after ours.
        tcp_close_timeout: seconds to wait for the server to close TCP after
            the closing handshake.
        open_timeout: seconds allowed for TCP, TLS and the opening handshake.
        proxy: ``"http://[user:pass@]host:port"``, ``"https://…"``,
            ``"socks5://…"``, ``"socks5h://…"`` or ``"socks4://…"``;
            ``None`` connects directly; ``True`` (the
            default) reads ``https_proxy`` (wss) or ``http_proxy`` (ws), then
            ``all_proxy``, and ``no_proxy`` from the environment; loopback
            hosts are reached directly, as in Chromium.
        cookies: an :class:`http.cookiejar.CookieJar`: the handshake sends
            its cookies for the URL's http(s) equivalent and stores the
            response's ``Set-Cookie`` in it.

    Raises:
        SyntaxError: (``w3cws.SyntaxError``) a bad URL or protocol list.
        TypeError: an argument of the wrong type.
        ValueError: a bad keyword-only extra.
    """

    CONNECTING: Final = 0
    OPEN: Final = 1
    CLOSING: Final = 2
    CLOSED: Final = 3

    onopen = EventHandler("open")
    onmessage = EventHandler("message")
    onerror = EventHandler("error")
    onclose = EventHandler("close")

    #: Makes each socket's engine (the real one; tests put a fake here).
    _engine_factory: ClassVar[EngineFactory] = open_engine

    def __init__(
        self,
        url: str,
        protocols: str | Sequence[str] | None = None,
        *,
        base_url: str | None = None,
        nursery: trio.Nursery | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        origin: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        deflate: bool = True,
        max_message_size: int = limits.MAX_MESSAGE_SIZE,
        max_handshake_size: int = limits.MAX_HANDSHAKE_SIZE,
        close_timeout: float = limits.CLOSE_TIMEOUT,
        tcp_close_timeout: float = limits.TCP_CLOSE_TIMEOUT,
        open_timeout: float = limits.OPEN_TIMEOUT,
        proxy: str | Literal[True] | None = True,
        cookies: CookieJar | None = None,
    ) -> None:
        super().__init__()
        # WS §3.1 constructor steps 1-5: parse, map http(s), check scheme and fragment.
        # Steps 6-7: one string or a list; tokens, no duplicates. What the
        # checks throw names the call that failed, as in a browser console.
        try:
            parsed = parse_websocket_url(url, base_url)
            offered = check_protocols(protocols)
        except (DOMException, TypeError) as exc:
            raise failed_call(exc, "construct 'WebSocket'") from None
        if origin is not None:
            if not isinstance(origin, str):
                raise TypeError("origin must be a str or None")
            origin = _check_header_value("Origin", origin)
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext or None")
        if nursery is not None and not isinstance(nursery, trio.Nursery):
            raise TypeError(f"nursery must be a trio.Nursery or None, not {nursery!r}")
        for name, size in (
            ("max_message_size", max_message_size),
            ("max_handshake_size", max_handshake_size),
        ):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"{name} must be a positive int (bytes), not {size!r}")
        for name, seconds in (
            ("close_timeout", close_timeout),
            ("tcp_close_timeout", tcp_close_timeout),
            ("open_timeout", open_timeout),
        ):
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not 0 < seconds <= _MAX_SECONDS
            ):
                raise ValueError(f"{name} must be a number of seconds > 0, not {seconds!r}")
        if cookies is not None:
            # Imported only when used: http.cookiejar brings urllib.request along.
            from http.cookiejar import CookieJar

            if not isinstance(cookies, CookieJar):
                raise TypeError("cookies must be an http.cookiejar.CookieJar or None")
        options = ConnectOptions(
            protocols=offered,
            headers=_check_headers(headers),
            origin=origin,
            ssl_context=ssl_context,
            deflate=bool(deflate),
            max_message_size=max_message_size,
            max_handshake_size=max_handshake_size,
            close_timeout=float(close_timeout),
            tcp_close_timeout=float(tcp_close_timeout),
            open_timeout=float(open_timeout),
            proxy=_choose_proxy(proxy, parsed),
            cookies=cookies,
        )
        # Step 8: store the URL record; per-object state of WS §3.1.
        self._url = parsed
        self._ready_state = 0
        self._binary_type: BinaryType = "blob"
        self._selected_protocol = ""
        self._extensions = ""
        self._shared = _Shared()
        # Answers wait_for(); _dispatch tells it about every event.
        self._watcher = EventWatcher(self)
        # Step 9: establish the connection in parallel, on the run that hosts it.
        make = type(self)._engine_factory

        def make_engine(listener: EngineListener) -> Engine:
            engine = make(parsed, options, listener)
            if engine.recorder is not None:
                # Traces name this WebSocket, not the stand-in that queues
                # its feedback on a thread's loop.
                engine.recorder.socket = self
            return engine

        self._host, self._connection, self._feedback = start_connection(make_engine, self, nursery)

    # -- attributes (WS §3.1) --

    @property
    def url(self) -> str:
        """The serialized URL (after http->ws / https->wss)."""
        return self._url.href

    @property
    def readyState(self) -> int:
        """CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3)."""
        return self._ready_state

    @property
    def bufferedAmount(self) -> int:
        """Application bytes passed to ``send()`` and not yet handed to the network."""
        return self._shared.buffered_amount

    @property
    def extensions(self) -> str:
        """The extensions the server selected, as it sent them ("" until open)."""
        return self._extensions

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected ("" until open or if none)."""
        return self._selected_protocol

    @property
    def binaryType(self) -> str:
        """``"blob"`` (default) or ``"arraybuffer"``: how binary messages arrive."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:
        # WebIDL enum attribute: any other value is ignored, without an error
        # (a W3CWSWarning says so).
        if value == "blob" or value == "arraybuffer":  # noqa: PLR1714 - str subclasses
            self._binary_type = "blob" if value == "blob" else "arraybuffer"
        else:
            warn(
                f"binaryType must be 'blob' or 'arraybuffer'; {value!r} is ignored, as in a "
                f"browser, and binaryType stays {self._binary_type!r}"
            )

    def __setattr__(
        self,
        name: str,
        value: object,
        _set: Callable[[object, str, object], None] = object.__setattr__,
    ) -> None:
        # HTML event handlers: ``ws.onMessage = f`` sets a plain attribute that
        # nothing calls, in a browser as here; a W3CWSWarning says so. Every
        # attribute write comes here, so the common case is one comparison.
        if name[0] == "o" and name[:2] == "on":
            warn_if_unknown_handler(self, name, value)
        _set(self, name, value)

    # -- methods (WS §3.1) --

    def send(self, data: str | bytes | bytearray | memoryview | Blob) -> None:
        """Queue ``data`` to be sent as one message; never waits.

        Raises:
            InvalidStateError: the connection is still CONNECTING.
            TypeError: ``data`` is not str, bytes-like or a Blob.
        """
        # WebIDL converts the argument before the steps run. Nearly every call
        # passes bytes or ASCII text, which need no conversion: those first.
        payload: str | bytes | memoryview
        if type(data) is bytes or (type(data) is str and data.isascii()):
            payload, size = data, len(data)
        else:
            payload, size = _convert_data(data)
        # Step 1.
        if self._ready_state == 0:
            raise InvalidStateError(
                "Failed to execute 'send' on 'WebSocket': still in CONNECTING state; "
                "send from an open listener, or after await ws.wait_for('open')"
            )
        # Steps 2-3: send only while established and not closing; step 4: count
        # the bytes in every case, so after closing bufferedAmount only grows.
        shared = self._shared
        with shared.lock:
            shared.buffered_amount += size
        if self._ready_state == 1:
            self._host.call(self._connection.send, payload, size)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start closing the connection (WS §3.1 close()).

        Args:
            code: 1000 or 3000-4999; ``None`` means absent.
            reason: at most 123 bytes of UTF-8; ``None`` means absent.

        Raises:
            InvalidAccessError: a code that is not 1000 or in 3000-4999.
            SyntaxError: a reason longer than 123 bytes in UTF-8.
            TypeError: a code that is not an int, or a reason that is not a str.
        """
        # Steps 1-2, in every state, code before reason.
        try:
            code, reason_bytes = check_close_arguments(code, reason)
        except (DOMException, TypeError) as exc:
            raise failed_call(exc, "execute 'close' on 'WebSocket'") from None
        # Step 3, first match.
        state = self._ready_state
        if state >= 2:
            return
        if state == 0:
            # Not established yet: fail the connection (error, then close 1006).
            self._set_state(2)
            if self._feedback is not None:
                # The engine may be ahead of what this thread has seen.
                self._feedback.abort_connecting(self._connection)
            else:
                self._host.call(self._connection.abort_connecting)
            return
        text = reason_bytes.decode("utf-8") if reason_bytes else ""
        if code is None and text:
            # The standard leaves a reason without a code open; Chromium
            # sends 1000 with it (and an empty body for an empty reason).
            code = 1000
        self._set_state(2)
        self._host.call(self._connection.start_closing, code, text)

    # -- Python extras --

    def wait_for(self, type: str, *, timeout: float | None = None) -> Coroutine[Any, Any, Event]:
        """Wait for the next ``type`` event and return it; await it from trio or asyncio.

        ``open``, ``error`` and ``close`` fire at most once: if one already
        fired, it is returned at once. Called in a task, the wait starts at
        the call, not at the first await. The caller resumes after the
        event's listeners ran.

        Raises:
            InvalidStateError: the socket closed (or its run ended) first.
            TimeoutError: no such event within ``timeout`` seconds.
        """
        return wait_for_event(self._watcher, self._feedback, type, timeout)

    # -- the one place readyState changes --

    def _set_state(self, state: int) -> None:
        """Move readyState forward (WS §3.1 state machine; never backwards)."""
        with self._shared.lock:
            self._ready_state = max(self._ready_state, state)

    # -- feedback from the protocol (WS §4); the engine task or a loop task calls them --

    def _on_established(self, protocol: str, extensions: str) -> None:
        # "When the WebSocket connection is established": OPEN, fill
        # extensions and protocol, fire open.
        if self._ready_state != 0:
            return
        self._set_state(1)
        self._extensions = extensions
        self._selected_protocol = protocol
        self._dispatch(create_event(Event, "open"))

    def _on_message(self, data: str | bytes) -> None:
        # "When a WebSocket message has been received": dropped unless OPEN;
        # binaryType is read now, at dispatch.
        if self._ready_state != 1:
            return
        payload: str | bytes | Blob
        if isinstance(data, str) or self._binary_type == "arraybuffer":
            payload = data
        else:
            payload = Blob._from_bytes(data)
        # What _dispatch does, without its call: this runs once per message.
        event = create_message_event(payload, self._url.origin)
        self._fire(event)
        self._watcher.seen(event)

    def _on_closing_handshake_started(self) -> None:
        # "When the WebSocket closing handshake is started": CLOSING, no event.
        self._set_state(2)

    def _on_sent(self, nbytes: int) -> None:
        shared = self._shared
        with shared.lock:
            shared.buffered_amount -= nbytes

    def _on_closed(self, *, was_clean: bool, code: int, reason: str, failed: bool) -> None:
        # "When the WebSocket connection is closed": CLOSED, then error if the
        # connection was failed, then close, all in one task.
        self._set_state(3)
        if failed:
            self._dispatch(create_event(Event, "error"))
        self._dispatch(
            create_event(CloseEvent, "close", wasClean=was_clean, code=code, reason=reason)
        )

    def _dispatch(self, event: Event) -> None:
        """Fire a trusted event, then tell the ``wait_for`` watcher about it."""
        self._fire(event)
        self._watcher.seen(event)

    def _on_discarded(self) -> None:
        # The hosting run ended (page unload): CLOSED, and no further events.
        self._set_state(3)
        self._watcher.discarded()

    def _repr_html_(self) -> str:
        """The notebook view: URL (without credentials), state, protocol,
        extensions, bufferedAmount and the last frames."""
        recorder = self._connection.recorder
        return render_html(
            url=shown_url(self._url),
            state=self._ready_state,
            protocol=self._selected_protocol,
            extensions=self._extensions,
            buffered_amount=self._shared.buffered_amount,
            frames=None if recorder is None else recorder.frames,
        )

    def __repr__(self) -> str:
        states = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
        return (
            f"<{type(self).__name__} url={self._url.href!r} "
            f"readyState={states[self._ready_state]} protocol={self._selected_protocol!r} "
            f"bufferedAmount={self._shared.buffered_amount}>"
        )
