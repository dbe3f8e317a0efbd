"""``intercept()``: an in-memory fake server that the test drives, for hard-coded URLs.

Theory of operation
-------------------
While an ``intercept`` block is active it registers a route with the engine
(:mod:`w3cws._engine.intercept`); a :class:`w3cws.WebSocket` whose URL the
pattern takes gets an in-memory stream instead of TCP: no DNS, no port, no
TLS. Every other URL goes to the network as usual.

The fake server has no task of its own. What the client writes is fed, inside
the client's own write, to a server-side wsproto connection, which answers
the opening handshake, Pings and the client's Close at once, and keeps whole
messages for the test. What the test sends is framed there and then and left
for the client's next read. So nothing runs but the client and the test:
under ``trio.testing.MockClock(autojump_threshold=0)`` every wait of the
client (a reconnect backoff, ``open_timeout``, the closing timers) passes in
virtual time.

The client may run in the test's own trio run (``async with``) or on
w3cws's background thread (a plain ``with`` in code that runs no trio):
each server's state is behind one lock, and every change wakes whoever
waits, in its own run (``TrioToken.run_sync_soon``) or thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import RemoteProtocolError

from w3cws._engine import intercept as _seam
from w3cws._loop.loop import ThreadLoop
from w3cws._url import parse_websocket_url
from w3cws._websocket import WebSocket

__all__ = [
    "DEFAULT_TIMEOUT",
    "BlockingConnection",
    "BlockingInterceptServer",
    "InterceptServer",
    "InterceptedConnection",
    "intercept",
]

DEFAULT_TIMEOUT = 5.0

_T = TypeVar("_T")
_C = TypeVar("_C", "InterceptedConnection", "BlockingConnection")

Pattern = str | Callable[[str], bool]
# Passes a message on (maybe changed), or drops it by returning None.
Filter = Callable[[str | bytes], str | bytes | None]
Subprotocol = str | Callable[[Sequence[str]], str | None] | None


def _first(offered: Sequence[str]) -> str | None:
    """Select the first subprotocol the client offered, as MSW does."""
    return offered[0] if offered else None


def _matcher(pattern: Pattern) -> Callable[[str], bool]:
    """A test for ``WebSocket.url`` values: exact URL, ``*`` wildcard, or a predicate.

    Raises:
        TypeError: ``pattern`` is neither a string nor callable.
        w3cws.SyntaxError: an exact URL that ``WebSocket()`` would refuse.
    """
    if callable(pattern):
        return pattern
    if not isinstance(pattern, str):
        raise TypeError(f"intercept() takes a URL, a '*' pattern or a predicate, not {pattern!r}")
    if "*" in pattern:
        # Only "*" is special (any run of characters, "/" included): "?" and
        # "[" are ordinary in URLs, so this is not fnmatch.
        regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
        return lambda url: regex.fullmatch(url) is not None
    href = parse_websocket_url(pattern).href
    return lambda url: url == href


def _describe(pattern: Pattern) -> str:
    return repr(pattern) if isinstance(pattern, str) else getattr(pattern, "__name__", "predicate")


# --- Waking waiters in any run or thread -------------------------------------------


def _trio_waker(event: trio.Event) -> Callable[[], None]:
    """A function that sets ``event`` from anywhere: its own run, or another thread."""
    token = trio.lowlevel.current_trio_token()

    def wake() -> None:
        try:
            here = trio.lowlevel.current_trio_token()
        except RuntimeError:
            here = None
        if here is token:
            event.set()
        else:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(event.set)

    return wake


class _State:
    """One server's state: a lock for every change, and whoever waits for one."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._wakers: list[Callable[[], None]] = []

    def changed(self) -> None:
        """Wake every waiter; call with the lock held."""
        wakers, self._wakers = self._wakers, []
        for wake in wakers:
            wake()

    async def wait(self, check: Callable[[], _T], timeout: float) -> _T:
        """``check()`` (under the lock) until it is not None, or None after ``timeout``."""
        await trio.lowlevel.checkpoint()
        deadline = trio.current_time() + timeout
        while True:
            with self.lock:
                value = check()
                if value is not None or trio.current_time() >= deadline:
                    return value
                event = trio.Event()
                self._wakers.append(_trio_waker(event))
            with trio.move_on_at(deadline):
                await event.wait()

    def wait_blocking(self, check: Callable[[], _T], timeout: float) -> _T:
        """As :meth:`wait`, blocking this thread.

        Raises:
            RuntimeError: called inside a trio run, whose clients would stop
                while it blocks.
        """
        if _in_trio():
            raise RuntimeError(
                "a plain 'with intercept(...)' block waits by blocking the thread; "
                "inside trio use 'async with intercept(...)'"
            )
        # The client code under test runs on this thread's w3cws event loop:
        # serve it while waiting, as an awaiting test would let it run.
        loop = ThreadLoop.current()
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = check()
                if value is not None or time.monotonic() >= deadline:
                    return value
                event = threading.Event()
                self._wakers.append(event.set)

            def ready(wait: float, event: threading.Event = event) -> bool:
                left = deadline - time.monotonic()
                return event.wait(min(wait, max(0.0, left))) or left <= 0

            loop.serve_until(ready)


# --- The client's end of the in-memory stream ---------------------------------------


class _ClientEnd(trio.abc.Stream):
    """What the engine reads and writes in place of TCP."""

    def __init__(self, core: _Connection) -> None:
        self._core = core

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self._core.from_client(bytes(data))

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        core = self._core
        data = await core.state.wait(lambda: core.to_client(max_bytes), math.inf)
        assert data is not None
        return data

    async def aclose(self) -> None:
        # Checkpoint first: the engine reports the close right after this
        # returns, so a test woken by it finds the client's close event fired.
        await trio.lowlevel.checkpoint()
        self._core.client_closed_tcp()


# --- One intercepted connection -------------------------------------------------------


class _Connection:
    """The fake server side of one connection; every method runs under the lock."""

    def __init__(self, server: _Server, url: str) -> None:
        self.server = server
        self.state = server.state
        self.url = url
        self.protocols: list[str] = []
        self.protocol: str | None = None
        self.request_headers: list[tuple[str, str]] = []
        self.accepted = False
        self.messages: list[str | bytes] = []
        self.unread: deque[str | bytes] = deque()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ws = WSConnection(ConnectionType.SERVER)
        self._text: list[str] = []
        self._binary = bytearray()
        # The pass-through to the real server (connect_upstream).
        self.upstream: WebSocket | None = None
        self.upstream_state: str | None = None  # "connecting", "open" or "closed"
        self.server_messages: list[str | bytes] = []
        self._to_server: Filter | None = None
        self._to_client: Filter | None = None
        self._passed_on = 0  # how many of self.messages went to the real server
        self._out = bytearray()
        self._eof = False  # the server closed TCP
        self._reset = False  # the connection was dropped
        self._client_gone = False  # the client closed TCP
        self._stalled = False

    # The client's side, called from the engine's task.

    def from_client(self, data: bytes) -> None:
        with self.state.lock:
            if self._reset:
                raise trio.BrokenResourceError("the fake server dropped the connection")
            if self._client_gone:
                raise trio.ClosedResourceError("the stream is closed")
            if self._stalled or self._eof:
                return
            try:
                self._ws.receive_data(data)
                for event in self._ws.events():
                    self._on_event(event)
            except RemoteProtocolError as exc:
                # A bad opening handshake: wsproto suggests the rejection.
                hint = exc.event_hint
                if isinstance(hint, RejectConnection):
                    self._out += self._ws.send(hint)
                self._eof = True
            self.state.changed()

    def to_client(self, max_bytes: int | None) -> bytes | None:
        """What the client may read now: bytes, b"" at EOF, None to wait."""
        if self._reset:
            raise trio.BrokenResourceError("the fake server dropped the connection")
        if self._client_gone:
            raise trio.ClosedResourceError("the stream is closed")
        if self._out:
            size = len(self._out) if max_bytes is None else max_bytes
            data = bytes(self._out[:size])
            del self._out[:size]
            return data
        return b"" if self._eof else None

    def client_closed_tcp(self) -> None:
        with self.state.lock:
            self._client_gone = True
            self.state.changed()

    def _on_event(self, event: object) -> None:
        ws = self._ws
        if isinstance(event, Request):
            self._on_request(event)
        elif isinstance(event, TextMessage):
            # wsproto may hand a message over in pieces: keep it whole.
            self._text.append(event.data)
            if event.message_finished:
                self._received("".join(self._text))
                self._text.clear()
        elif isinstance(event, BytesMessage):
            self._binary += event.data
            if event.message_finished:
                self._received(bytes(self._binary))
                self._binary.clear()
        elif isinstance(event, Ping) and ws.state is ConnectionState.OPEN:
            self._out += ws.send(event.response())
        elif isinstance(event, CloseConnection):
            self._on_close(event)

    def _received(self, message: str | bytes) -> None:
        self.messages.append(message)
        self.unread.append(message)
        if self.upstream_state == "open":
            self._pass_on()

    def _on_request(self, request: Request) -> None:
        server = self.server
        self.protocols = list(request.subprotocols)
        self.request_headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in request.extra_headers
        ]
        server.arrived(self)
        if server.reject is not None:
            self._out += self._ws.send(RejectConnection(status_code=server.reject))
            self._eof = True
            return
        choice = server.subprotocol
        self.protocol = choice(self.protocols) if callable(choice) else choice
        headers = []
        if self.protocol is not None:
            # A plain header: wsproto refuses a subprotocol that was not
            # offered, and answering with one is what some tests need.
            headers.append((b"Sec-WebSocket-Protocol", self.protocol.encode()))
        extensions: list[Extension] = [PerMessageDeflate()] if server.deflate else []
        self._out += self._ws.send(AcceptConnection(extensions=extensions, extra_headers=headers))
        self.accepted = True

    def _on_close(self, event: CloseConnection) -> None:
        ws = self._ws
        code, reason = int(event.code), event.reason or ""
        if ws.state is ConnectionState.REMOTE_CLOSING:
            # The client started the closing handshake: echo its Close
            # (RFC 6455 §5.5.1), then close TCP first, as servers do (§7.1.1).
            self._out += ws.send(event.response())
        elif ws.state is not ConnectionState.CLOSED:
            # wsproto reports a client's protocol error as a Close of its own.
            if ws.state is ConnectionState.OPEN:
                self._out += ws.send(event)
            code, reason = 1006, f"protocol error: {reason}"
        self.close_code = None if code == CloseReason.NO_STATUS_RCVD else code
        self.close_reason = reason
        self._eof = True
        if self.upstream is not None and self.upstream_state != "closed":
            # The client's Close goes on to the real server where the API
            # allows its code (1000, 3000-4999), else as a plain close().
            if self.close_code == 1000 or 3000 <= (self.close_code or 0) <= 4999:
                self.upstream.close(self.close_code, reason)
            else:
                self.upstream.close()

    # The pass-through to the real server.

    def connect_upstream(
        self, url: str, to_server: Filter | None, to_client: Filter | None
    ) -> None:
        """Open a real WebSocket to ``url`` and pass messages both ways once it is open."""
        with self.state.lock:
            if self.upstream_state is not None:
                raise RuntimeError(f"{self.url} is already connected to the server")
            self.upstream_state = "connecting"
            self._to_server, self._to_client = to_server, to_client
            # That connection must not come back here.
            self.server.bypass.append(url)
        # Made without the lock: on w3cws's thread the constructor waits
        # for that thread, which may be feeding this connection meanwhile.
        upstream = WebSocket(url, [self.protocol] if self.protocol else [])
        upstream.binaryType = "arraybuffer"
        upstream.onopen = lambda event: self._upstream_opened()
        upstream.onmessage = lambda event: self._from_upstream(event.data)
        upstream.onclose = lambda event: self._upstream_closed(event.code, event.reason)
        with self.state.lock:
            self.upstream = upstream

    def _upstream_opened(self) -> None:
        with self.state.lock:
            self.upstream_state = "open"
            self._pass_on()
            self.state.changed()

    def _pass_on(self) -> None:
        """Send the client's messages not yet passed on (all since it connected)."""
        assert self.upstream is not None
        for message in self.messages[self._passed_on :]:
            passed = message if self._to_server is None else self._to_server(message)
            if passed is not None:
                self.upstream.send(passed)
        self._passed_on = len(self.messages)

    def _from_upstream(self, data: object) -> None:
        assert isinstance(data, str | bytes)
        with self.state.lock:
            self.server_messages.append(data)
            passed = data if self._to_client is None else self._to_client(data)
            if passed is not None and self.open:
                self.send(passed)
            self.state.changed()

    def _upstream_closed(self, code: int, reason: str) -> None:
        with self.state.lock:
            self.upstream_state = "closed"
            if code == 1006:
                # The real server was lost (or never reached): so is the client.
                self.drop()
            else:
                self.start_close(None if code == 1005 else code, reason)
            self.state.changed()

    def upstream_settled(self) -> str | None:
        """The pass-through's state once it is no longer connecting, else None."""
        return None if self.upstream_state == "connecting" else self.upstream_state

    # The test's side.

    @property
    def open(self) -> bool:
        return self._ws.state is ConnectionState.OPEN and not (self._reset or self._client_gone)

    @property
    def ended(self) -> bool:
        """No more messages can come."""
        return self._eof or self._reset or self._client_gone

    def finished(self) -> bool | None:
        """The client has let go of the connection too (True), else None."""
        return self._reset or self._client_gone or None

    def send(self, data: str | bytes) -> None:
        with self.state.lock:
            if not self.open:
                raise RuntimeError(f"cannot send on {self.url}: the connection is not open")
            event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
            self._out += self._ws.send(event)
            self.state.changed()

    def start_close(self, code: int | None, reason: str) -> None:
        """Send a Close; ``None`` sends an empty body."""
        with self.state.lock:
            if self.open:
                # wsproto sends an empty body for this member (not for the int).
                wire_code = CloseReason.NO_STATUS_RCVD if code is None else code
                self._out += self._ws.send(CloseConnection(code=wire_code, reason=reason))
                self.state.changed()

    def drop(self) -> None:
        with self.state.lock:
            if not (self._eof or self._client_gone):
                self._reset = True
                self.state.changed()

    def stall(self) -> None:
        with self.state.lock:
            self._stalled = True

    def take_message(self) -> str | bytes | None:
        if self.unread:
            return self.unread.popleft()
        if self.ended:
            raise ConnectionError(f"{self.url}: {self._ending()} before the next message came")
        return None

    def _ending(self) -> str:
        if self._reset:
            return "the connection was dropped"
        if self.close_code is not None or self.close_reason is not None:
            return f"the connection closed (code {self.close_code}, reason {self.close_reason!r})"
        return "the client closed TCP"


# --- The server ---------------------------------------------------------------------


class _Server:
    """What every connection of one ``intercept`` block shares."""

    def __init__(
        self, pattern: Pattern, *, subprotocol: Subprotocol, reject: int | None, deflate: bool
    ) -> None:
        self.pattern = pattern
        self.matches = _matcher(pattern)
        self.subprotocol = subprotocol
        self.reject = reject
        self.deflate = deflate
        self.state = _State()
        self.connections: list[_Connection] = []
        self.next_index = 0
        # URLs of pass-through connections about to be made, which go to the network.
        self.bypass: list[str] = []

    def route(self, url: str) -> trio.abc.Stream | None:
        """The engine's route: a fresh in-memory connection for a matching URL."""
        with self.state.lock:
            if url in self.bypass:
                self.bypass.remove(url)
                return None
        if not self.matches(url):
            return None
        return _ClientEnd(_Connection(self, url))

    def arrived(self, connection: _Connection) -> None:
        self.connections.append(connection)

    def take_connection(self) -> _Connection | None:
        if self.next_index < len(self.connections):
            self.next_index += 1
            return self.connections[self.next_index - 1]
        return None

    def pass_throughs_closed(self) -> bool | None:
        """True once no pass-through to a real server is left open, else None."""
        for connection in self.connections:
            if connection.upstream is not None and connection.upstream_state != "closed":
                return None
        return True

    def shut(self) -> None:
        """Stop intercepting, drop what is still open and close the pass-throughs."""
        _seam.remove_route(self.route)
        with self.state.lock:
            for connection in self.connections:
                connection.drop()
                if connection.upstream is not None and connection.upstream_state != "closed":
                    connection.upstream.close()


def _no_connection(server: _Server, timeout: float) -> TimeoutError:
    return TimeoutError(
        f"no new connection to intercept({_describe(server.pattern)}) within {timeout} s "
        f"({len(server.connections)} so far)"
    )


def _no_message(connection: _Connection, timeout: float) -> TimeoutError:
    return TimeoutError(
        f"no message from the client on {connection.url} within {timeout} s "
        f"({len(connection.messages)} received so far)"
    )


def _no_close(connection: _Connection, timeout: float) -> TimeoutError:
    return TimeoutError(f"the connection to {connection.url} did not close within {timeout} s")


class _ConnectionView:
    """What both kinds of connection show: the request and what was received."""

    def __init__(self, core: _Connection) -> None:
        self._core = core

    @property
    def url(self) -> str:
        """The URL the client connected to, as ``WebSocket.url`` has it."""
        return self._core.url

    @property
    def protocols(self) -> list[str]:
        """The subprotocols the client offered, in its order."""
        return list(self._core.protocols)

    @property
    def protocol(self) -> str | None:
        """The subprotocol the fake server selected, if any."""
        return self._core.protocol

    @property
    def request_headers(self) -> list[tuple[str, str]]:
        """The request's headers beyond the handshake's own, names lowercased."""
        return list(self._core.request_headers)

    @property
    def accepted(self) -> bool:
        """The handshake was accepted (False when ``reject`` refused it)."""
        return self._core.accepted

    @property
    def messages(self) -> list[str | bytes]:
        """Every message received so far, read or not."""
        with self._core.state.lock:
            return list(self._core.messages)

    @property
    def close_code(self) -> int | None:
        """The code of the client's Close; None if none came or its body was empty."""
        return self._core.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason of the client's Close; None if none came."""
        return self._core.close_reason

    @property
    def closed(self) -> bool:
        """The connection has ended, however it ended."""
        with self._core.state.lock:
            return self._core.ended

    @property
    def server_messages(self) -> list[str | bytes]:
        """What the real server sent, before any change (see ``connect_server``)."""
        with self._core.state.lock:
            return list(self._core.server_messages)

    def _connect_server(
        self, url: str | None, client_to_server: Filter | None, server_to_client: Filter | None
    ) -> str:
        target = self.url if url is None else parse_websocket_url(url).href
        self._core.connect_upstream(target, client_to_server, server_to_client)
        return target

    def send(self, data: str | bytes) -> None:
        """Send a message now: ``str`` as text, ``bytes`` as binary.

        Raises:
            RuntimeError: the connection is not open.
        """
        self._core.send(data)

    def send_json(self, value: Any) -> None:
        """Send ``value`` as JSON text (``json.dumps``)."""
        self.send(json.dumps(value))

    def drop(self) -> None:
        """Lose the connection abruptly, with no Close frame: the client sees 1006."""
        self._core.drop()

    def stall(self) -> None:
        """Stop reading and answering, keeping the connection open.

        The client's Close then goes unanswered, so its closing timeout runs
        (in virtual time on an autojump clock).
        """
        self._core.stall()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} messages={len(self._core.messages)}>"


def _in_trio() -> bool:
    """Whether the caller runs in a trio run (where blocking would stop it)."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def _upstream_failed(state: str | None, url: str, timeout: float) -> Exception | None:
    if state is None:
        return TimeoutError(f"the server at {url} did not open within {timeout} s")
    if state != "open":
        return ConnectionError(f"could not connect to the server at {url}")
    return None


class InterceptedConnection(_ConnectionView):
    """One intercepted connection, for a test in the client's trio run."""

    async def connect_server(
        self,
        url: str | None = None,
        *,
        client_to_server: Filter | None = None,
        server_to_client: Filter | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Pass this connection through to the real server, as MSW's ``server.connect()``.

        A real WebSocket to ``url`` (by default the URL the client asked for)
        opens, offering the subprotocol selected for the client. From then
        on every message of the client (those already received included)
        goes to the server and every message of the server to the client,
        each through its filter if given: a function that returns the
        message to pass on, changed or not, or None to drop it. The test
        still sees the client's messages (``next_message``, ``messages``)
        and the server's (``server_messages``). A Close on either side is
        passed on; a lost server is a dropped client connection.

        Raises:
            TimeoutError: the server did not answer within ``timeout`` seconds.
            ConnectionError: the connection to the server failed.
            RuntimeError: the connection already passes through.
        """
        target = self._connect_server(url, client_to_server, server_to_client)
        state = await self._core.state.wait(self._core.upstream_settled, timeout)
        error = _upstream_failed(state, target, timeout)
        if error is not None:
            raise error

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> str | bytes:
        """The client's next message not yet returned, in arrival order.

        Raises:
            TimeoutError: none came within ``timeout`` seconds.
            ConnectionError: the connection ended first.
        """
        message: str | bytes | None = await self._core.state.wait(self._core.take_message, timeout)
        if message is None:
            raise _no_message(self._core, timeout)
        return message

    async def next_json(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next message, parsed as JSON."""
        return json.loads(await self.next_message(timeout))

    async def close(
        self, code: int = 1000, reason: str = "", *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Start the closing handshake; wait until the client has closed too.

        Raises:
            TimeoutError: the client did not answer within ``timeout``
                seconds; the connection is then dropped.
        """
        core = self._core
        core.start_close(code, reason)
        if not await core.state.wait(core.finished, timeout):
            core.drop()
            raise _no_close(core, timeout)

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the connection has ended and the client has closed its end.

        Raises:
            TimeoutError: it was still open after ``timeout`` seconds.
        """
        core = self._core
        if not await core.state.wait(core.finished, timeout):
            raise _no_close(core, timeout)


class BlockingConnection(_ConnectionView):
    """The same connection for a test that runs no trio: the waits block."""

    def connect_server(
        self,
        url: str | None = None,
        *,
        client_to_server: Filter | None = None,
        server_to_client: Filter | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """See :meth:`InterceptedConnection.connect_server`."""
        target = self._connect_server(url, client_to_server, server_to_client)
        state = self._core.state.wait_blocking(self._core.upstream_settled, timeout)
        error = _upstream_failed(state, target, timeout)
        if error is not None:
            raise error

    def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> str | bytes:
        """See :meth:`InterceptedConnection.next_message`."""
        message: str | bytes | None = self._core.state.wait_blocking(
            self._core.take_message, timeout
        )
        if message is None:
            raise _no_message(self._core, timeout)
        return message

    def next_json(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next message, parsed as JSON."""
        return json.loads(self.next_message(timeout))

    def close(
        self, code: int = 1000, reason: str = "", *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """See :meth:`InterceptedConnection.close`."""
        core = self._core
        core.start_close(code, reason)
        if not core.state.wait_blocking(core.finished, timeout):
            core.drop()
            raise _no_close(core, timeout)

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """See :meth:`InterceptedConnection.wait_closed`."""
        core = self._core
        if not core.state.wait_blocking(core.finished, timeout):
            raise _no_close(core, timeout)


class _ServerView(Generic[_C]):
    """What both kinds of server show."""

    _view: type[_C]

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._views: dict[_Connection, _C] = {}

    def _wrap(self, core: _Connection) -> _C:
        if core not in self._views:
            self._views[core] = self._view(core)
        return self._views[core]

    @property
    def connections(self) -> list[_C]:
        """Every connection so far, in arrival order (refused handshakes too)."""
        with self._server.state.lock:
            return [self._wrap(core) for core in self._server.connections]

    def broadcast(self, data: str | bytes) -> None:
        """Send ``data`` to every open connection."""
        with self._server.state.lock:
            for core in self._server.connections:
                if core.open:
                    core.send(data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {_describe(self._server.pattern)}>"


class InterceptServer(_ServerView[InterceptedConnection]):
    """The fake server of an ``async with intercept(...)`` block."""

    _view = InterceptedConnection

    async def next_connection(self, timeout: float = DEFAULT_TIMEOUT) -> InterceptedConnection:
        """The next connection not yet returned, in arrival order.

        Raises:
            TimeoutError: none came within ``timeout`` seconds.
        """
        core = await self._server.state.wait(self._server.take_connection, timeout)
        if core is None:
            raise _no_connection(self._server, timeout)
        return self._wrap(core)


class BlockingInterceptServer(_ServerView[BlockingConnection]):
    """The fake server of a plain ``with intercept(...)`` block: the waits block."""

    _view = BlockingConnection

    def next_connection(self, timeout: float = DEFAULT_TIMEOUT) -> BlockingConnection:
        """See :meth:`InterceptServer.next_connection`."""
        core = self._server.state.wait_blocking(self._server.take_connection, timeout)
        if core is None:
            raise _no_connection(self._server, timeout)
        return self._wrap(core)


class intercept:
    """Answer the WebSockets whose URL matches ``pattern`` with a fake server, in memory.

    ``async with intercept(url) as server`` in a trio test, ``with
    intercept(url) as server`` in code that runs no trio (the waits then
    block). Connections made while the block runs go to the fake server, the
    rest to the network; leaving the block drops what is still open. Leaving
    a plain ``with`` block also waits, up to 5 seconds, for the closing
    handshakes of its pass-throughs to real servers, running the thread's
    event loop meanwhile, so that their events are not left undelivered.

    Args:
        pattern: the URL exactly (``wss://api.example.test/feed``), a
            pattern where ``*`` stands for any characters
            (``wss://*.example.test/*``), or a predicate taking the URL.
        subprotocol: the subprotocol to select: by default the first the
            client offered; a name (sent even if not offered, to test a
            client that must fail then); ``None`` for none; or a function
            of the offered list.
        reject: refuse every handshake with this HTTP status.
        deflate: accept permessage-deflate when the client offers it.
    """

    def __init__(
        self,
        pattern: Pattern,
        *,
        subprotocol: Subprotocol = _first,
        reject: int | None = None,
        deflate: bool = True,
    ) -> None:
        if reject is not None and not 200 <= reject <= 599:
            raise ValueError(f"reject must be an HTTP status in 200..599, not {reject!r}")
        self._server = _Server(pattern, subprotocol=subprotocol, reject=reject, deflate=deflate)

    def _start(self) -> None:
        if self._server.route in _seam.routes:
            raise RuntimeError("this intercept() block is already active")
        _seam.add_route(self._server.route)

    def _start_async(self) -> InterceptServer:
        """Start intercepting; the server a trio test drives (the pytest fixture's way in)."""
        self._start()
        return InterceptServer(self._server)

    def _stop(self) -> None:
        self._server.shut()

    async def __aenter__(self) -> InterceptServer:
        server = self._start_async()
        await trio.lowlevel.checkpoint()
        return server

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shut()

    def __enter__(self) -> BlockingInterceptServer:
        self._start()
        return BlockingInterceptServer(self._server)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server = self._server
        server.shut()
        if not server.pass_throughs_closed() and not _in_trio():
            # The pass-throughs are sockets of this thread: their close
            # events need its event loop, which the waits run.
            server.state.wait_blocking(server.pass_throughs_closed, DEFAULT_TIMEOUT)
