"""A scripted WebSocket server on loopback, for testing WebSocket clients.

Theory of operation
-------------------
``serve()`` listens on one TCP address and runs one trio task per accepted
connection, all in a nursery it owns. Each task reads the opening handshake
with wsproto, picks a :class:`Behavior` (the route for the request path, else
the default, then the action grammar in the query string), answers the handshake,
runs the behaviour's ``on_open`` actions in order and then reads frames until
TCP closes. Everything the client does is written to that connection's
:class:`ConnectionRecord`, which tests inspect and wait on.

A connection task never raises into the nursery: a misbehaving client, a
failing ``on_message`` hook or a bug here ends that one connection, sets
``record.error`` and is logged on the ``w3cws.testing`` logger, so one bad
client cannot stop the server.

Each connection is served by one sequential task on purpose: while an action runs (a ``Delay``, for
example) nothing is read, and whatever the client sent waits in the kernel
buffer until the actions are done. That keeps every script deterministic.

The query string is read in the grammar of :mod:`w3cws.testing.actions`.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self, TypeVar

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Ping as PingEvent
from wsproto.events import Pong as PongEvent
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import RemoteProtocolError

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
)

logger = logging.getLogger("w3cws.testing")

_RECEIVE_SIZE = 65536
_T = TypeVar("_T")


# --- Records -----------------------------------------------------------------


@dataclass(eq=False)
class ConnectionRecord:
    """What happened on one accepted TCP connection, in the order it happened.

    The server appends to a record as it goes; tests read it and wait on it.

    Attributes:
        path: the request target, query included ("" if no request arrived).
        request_headers: request headers as received, names lowercased.
        subprotocols: subprotocols the client offered.
        extensions_offered: the raw ``Sec-WebSocket-Extensions`` value(s),
            joined with ", ".
        selected_subprotocol: the subprotocol the server sent back, if any.
        deflate_negotiated: permessage-deflate is in use.
        messages: every complete message received (``str`` text, ``bytes``
            binary).
        pongs: payloads of the Pongs received.
        close_code: code of the client's Close frame; ``None`` when its body
            was empty (what RFC 6455 §7.1.5 reports as 1005) or none came.
        close_reason: reason of the client's Close ("" for an empty body),
            ``None`` if none came.
        close_received: the client's Close frame arrived.
        tcp_closed_by: which side closed TCP first, once it is closed; the
            server's shutdown counts as "server".
        events: a log of ``(kind, value)`` in order. Kinds: ``request``
            (target), ``rejected`` (status), ``open`` (selected subprotocol),
            ``message``, ``ping``/``pong`` (payload received), ``sent``,
            ``fragments_sent``, ``ping_sent``, ``close_sent`` ((code, reason)),
            ``close`` ((code, reason) received), ``protocol_error`` ((code,
            reason)), ``delay``, ``stall``, ``skipped`` (an action the
            connection state no longer allowed), ``error``, ``tcp_closed``.
        error: what went wrong, if anything: a bad request, a protocol error
            by the client, an exception in ``on_message``.
    """

    path: str = ""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    extensions_offered: str = ""
    selected_subprotocol: str | None = None
    deflate_negotiated: bool = False
    messages: list[str | bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    close_received: bool = False
    tcp_closed_by: Literal["client", "server"] | None = None
    events: list[tuple[str, object]] = field(default_factory=list)
    error: str | None = None
    _changed: trio.Event = field(default_factory=trio.Event, init=False, repr=False)
    _tcp_closed: trio.Event = field(default_factory=trio.Event, init=False, repr=False)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed, by either side."""
        await self._tcp_closed.wait()

    async def wait_messages(self, n: int) -> None:
        """Wait until ``n`` messages were received, or TCP closed before that.

        Returning on close keeps a test from hanging; its assertion on
        ``messages`` then shows what did arrive.
        """
        while len(self.messages) < n and not self._tcp_closed.is_set():
            await self._changed.wait()

    async def wait_events(self, count: int) -> None:
        """Wait until ``events`` holds more than ``count`` entries.

        For following a connection live: print ``events[count:]``, then wait
        with the new length.
        """
        while len(self.events) <= count:
            await self._changed.wait()

    def _log(self, kind: str, value: object = None) -> None:
        self.events.append((kind, value))
        self._changed.set()
        self._changed = trio.Event()

    def _fail(self, error: str) -> None:
        logger.debug("test server connection %r: %s", self.path, error)
        self.error = error
        self._log("error", error)

    def _tcp_gone(self, by: Literal["client", "server"]) -> None:
        if self.tcp_closed_by is None:
            self.tcp_closed_by = by
            self._tcp_closed.set()
            self._log("tcp_closed", by)


# --- One connection -----------------------------------------------------------


def _parse_head(head: bytes) -> list[tuple[str, str]]:
    """Header fields of an HTTP request head that h11 has already accepted."""
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    fields = (line.partition(b":") for line in lines)
    return [
        (name.decode("latin-1").strip().lower(), value.decode("latin-1").strip())
        for name, colon, value in fields
        if colon
    ]


def _encode_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _message(data: str | bytes, *, finished: bool = True) -> Event:
    if isinstance(data, str):
        return TextMessage(data=data, message_finished=finished)
    return BytesMessage(data=data, message_finished=finished)


class _Connection:
    """Serves one accepted TCP connection and writes its record."""

    def __init__(self, server: Server, tcp: trio.SocketStream, record: ConnectionRecord) -> None:
        self._server = server
        self._tcp = tcp
        self._stream: trio.abc.Stream = tcp
        self._record = record
        self._ws = WSConnection(ConnectionType.SERVER)
        self._behavior = server._default
        self._text: list[str] = []
        self._binary = bytearray()

    async def run(self) -> None:
        """Serve the connection to its end; never raises (except Cancelled)."""
        record = self._record
        try:
            await self._serve()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The client reset the connection under us (or TLS broke).
            record._tcp_gone("client")
        except Exception as exc:
            logger.exception("test server connection failed")
            record._fail(f"internal error: {exc!r}")
        finally:
            record._tcp_gone("server")
            await trio.aclose_forcefully(self._stream)

    async def _serve(self) -> None:
        ssl_context = self._server._ssl_context
        if ssl_context is not None:
            tls = trio.SSLStream(self._tcp, ssl_context, server_side=True, https_compatible=True)
            self._stream = tls
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:
                self._record._fail(f"TLS handshake failed: {exc.__cause__!r}")
                return
        request = await self._read_request()
        if request is None:
            return
        try:
            self._behavior = self._server._behavior_for(request.target)
        except ValueError as exc:
            self._record._fail(str(exc))
            await self._reject(400, (), str(exc).encode())
            return
        behavior = self._behavior
        if behavior.handshake_delay:
            await trio.sleep(behavior.handshake_delay)
        if behavior.raw_response is not None:
            await self._stream.send_all(behavior.raw_response)
            await self._read_until_eof()
        elif behavior.reject is not None:
            await self._reject(behavior.reject, behavior.reject_headers, behavior.reject_body)
        else:
            await self._accept(request)
            if await self._run_actions(behavior.on_open):
                await self._read_frames()

    # Opening handshake (RFC 6455 §4.2).

    async def _read_request(self) -> Request | None:
        """Read the client's opening handshake; answer a bad one with 4xx."""
        record = self._record
        head = bytearray()
        while True:
            data = await self._stream.receive_some(_RECEIVE_SIZE)
            if not data:
                record._tcp_gone("client")
                return None
            head += data
            try:
                self._ws.receive_data(bytes(data))
            except RemoteProtocolError as exc:
                record.request_headers = _parse_head(bytes(head))
                record._fail(f"bad opening handshake: {exc}")
                hint = exc.event_hint
                if not isinstance(hint, RejectConnection):
                    hint = RejectConnection()
                await self._stream.send_all(self._ws.send(hint))
                record._log("rejected", hint.status_code)
                await self._close_tcp()
                return None
            for event in self._ws.events():
                assert isinstance(event, Request)
                record.path = event.target
                record.request_headers = _parse_head(bytes(head))
                record.subprotocols = list(event.subprotocols)
                record.extensions_offered = ", ".join(
                    value
                    for name, value in record.request_headers
                    if name == "sec-websocket-extensions"
                )
                record._log("request", event.target)
                return event

    async def _reject(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        raw_headers = _encode_headers(headers)
        if body and not any(name.lower() == "content-length" for name, _ in headers):
            raw_headers.append((b"content-length", str(len(body)).encode()))
        data = self._ws.send(
            RejectConnection(status_code=status, headers=raw_headers, has_body=bool(body))
        )
        if body:
            data += self._ws.send(RejectData(data=body))
        await self._stream.send_all(data)
        self._record._log("rejected", status)
        await self._close_tcp()

    async def _accept(self, request: Request) -> None:
        behavior = self._behavior
        record = self._record
        if behavior.subprotocol == "first":
            selected = request.subprotocols[0] if request.subprotocols else None
        else:
            selected = behavior.subprotocol
        headers = list(behavior.extra_response_headers)
        if selected is not None:
            # Sent as a plain header: wsproto refuses a subprotocol the client did
            # not offer, and sending one is exactly what some tests need.
            headers.append(("Sec-WebSocket-Protocol", selected))
        extensions: list[Extension] = [PerMessageDeflate()] if behavior.deflate else []
        await self._send(
            AcceptConnection(extensions=extensions, extra_headers=_encode_headers(headers))
        )
        record.selected_subprotocol = selected
        record.deflate_negotiated = any(ext.enabled() for ext in extensions)
        record._log("open", selected)

    # Data transfer and the closing handshake (RFC 6455 §5, §7).

    async def _send(self, event: Event) -> None:
        await self._stream.send_all(self._ws.send(event))

    async def _run_actions(self, actions: Sequence[Action]) -> bool:
        """Run actions in order; return False once the connection has ended."""
        record = self._record
        for action in actions:
            is_open = self._ws.state is ConnectionState.OPEN
            match action:
                case Delay(seconds):
                    record._log("delay", seconds)
                    await trio.sleep(seconds)
                case Drop():
                    await self._drop()
                    return False
                case Stall():
                    record._log("stall")
                    await trio.sleep_forever()
                case _ if not is_open:
                    record._log("skipped", action)
                case Send(data):
                    await self._send(_message(data))
                    record._log("sent", data)
                case SendFragments(parts):
                    for index, part in enumerate(parts, 1):
                        await self._send(_message(part, finished=index == len(parts)))
                    record._log("fragments_sent", tuple(parts))
                case Ping(payload):
                    await self._send(PingEvent(payload=payload))
                    record._log("ping_sent", payload)
                case Close(code, reason):
                    # wsproto sends an empty body for this enum member (not the int).
                    wire_code = CloseReason.NO_STATUS_RCVD if code is None else code
                    await self._send(CloseConnection(code=wire_code, reason=reason))
                    record._log("close_sent", (code, reason))
        return True

    async def _read_frames(self) -> None:
        """Read until TCP closes, or until this side ends the connection."""
        while True:
            data = await self._stream.receive_some(_RECEIVE_SIZE)
            if not data:
                self._record._tcp_gone("client")
                return
            # Once a Close was received wsproto accepts no more input; whatever
            # the client still sends is discarded (RFC 6455 §1.4).
            if self._ws.state not in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
                continue
            self._ws.receive_data(bytes(data))
            for event in self._ws.events():
                if not await self._on_event(event):
                    return

    async def _on_event(self, event: Event) -> bool:
        """Handle one wsproto event; return False once the connection has ended."""
        record = self._record
        match event:
            # wsproto may hand a message over in pieces (RFC 6455 §5.4 fragments,
            # or a frame split across reads): deliver it whole.
            case TextMessage(data=text):
                self._text.append(text)
                if event.message_finished:
                    message = "".join(self._text)
                    self._text.clear()
                    return await self._on_message(message)
            case BytesMessage(data=data):
                self._binary += data
                if event.message_finished:
                    message_bytes = bytes(self._binary)
                    self._binary.clear()
                    return await self._on_message(message_bytes)
            case PingEvent(payload):
                record._log("ping", payload)
                if self._ws.state is ConnectionState.OPEN:
                    await self._send(event.response())
            case PongEvent(payload):
                record.pongs.append(payload)
                record._log("pong", payload)
            case CloseConnection():
                return await self._on_close(event)
        return True

    async def _on_message(self, message: str | bytes) -> bool:
        record = self._record
        record.messages.append(message)
        record._log("message", message)
        hook = self._behavior.on_message
        if hook is None:
            return await self._run_actions([Send(message)] if self._behavior.echo else [])
        try:
            actions = hook(record, message)
        except Exception as exc:
            logger.exception("on_message hook raised")
            record._fail(f"on_message raised {exc!r}")
            # 1011: the server hit an unexpected condition (RFC 6455 §7.4.1).
            await self._fail_the_connection(CloseReason.INTERNAL_ERROR, "on_message raised")
            return False
        return await self._run_actions(actions)

    async def _on_close(self, event: CloseConnection) -> bool:
        record = self._record
        code, reason = int(event.code), event.reason or ""
        if self._ws.state not in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
            # wsproto reports a protocol error as a CloseConnection it made up
            # (1002, 1007...), and the state does not move.
            record._fail(f"protocol error {code}: {reason}")
            record._log("protocol_error", (code, reason))
            await self._fail_the_connection(code, reason)
            return False
        record.close_received = True
        if code == CloseReason.NO_STATUS_RCVD:
            record.close_code, record.close_reason = None, ""
        else:
            record.close_code, record.close_reason = code, reason
        record._log("close", (record.close_code, record.close_reason))
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            # The client started the closing handshake.
            match self._behavior.on_close:
                case "stall":
                    return True
                case "drop":
                    await self._drop()
                    return False
            await self._send(event.response())
            record._log("close_sent", (record.close_code, record.close_reason))
        # The closing handshake is complete: the server closes TCP first
        # (RFC 6455 §7.1.1), unless the test wants to see the client do it.
        if self._behavior.keep_tcp_open_after_close:
            return True
        await self._close_tcp()
        return False

    # Closing TCP.

    async def _fail_the_connection(self, code: int, reason: str) -> None:
        """Send a Close if still allowed, then close TCP at once (RFC 6455 §7.1.7)."""
        if self._ws.state is ConnectionState.OPEN:
            await self._send(CloseConnection(code=code, reason=reason))
            self._record._log("close_sent", (int(code), reason))
        await self._close_tcp()

    async def _read_until_eof(self) -> None:
        while await self._stream.receive_some(_RECEIVE_SIZE):
            pass
        self._record._tcp_gone("client")

    async def _close_tcp(self) -> None:
        self._record._tcp_gone("server")
        await self._stream.aclose()

    async def _drop(self) -> None:
        # SO_LINGER with a zero timeout turns close() into an RST.
        with suppress(OSError):
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._record._tcp_gone("server")
        await trio.aclose_forcefully(self._stream)


# --- The server -------------------------------------------------------------------


class Server:
    """A running test server, as yielded by :func:`serve`.

    Attributes:
        url: ``ws://HOST:PORT`` (``wss://`` with TLS; IPv6 hosts in brackets).
        port: the TCP port it listens on.
        connections: one record per accepted TCP connection, in accept order,
            rejected handshakes included.
    """

    def __init__(
        self, behavior: Behavior, *, url: str, port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.url = url
        self.port = port
        self.connections: list[ConnectionRecord] = []
        self._default = behavior
        self._routes: dict[str, Behavior] = {}
        self._ssl_context = ssl_context
        self._accepted = trio.Event()

    def route(self, path: str, behavior: Behavior) -> None:
        """Use ``behavior`` for requests to ``path`` (matched without the query).

        Raises:
            ValueError: ``path`` has a query string.
        """
        if "?" in path:
            raise ValueError("route paths have no query string")
        self._routes[path] = behavior

    async def wait_for_connections(self, n: int) -> None:
        """Wait until ``n`` TCP connections have been accepted in total."""
        while len(self.connections) < n:
            await self._accepted.wait()

    def _behavior_for(self, target: str) -> Behavior:
        path, _, query = target.partition("?")
        behavior = self._routes.get(path, self._default)
        if query and behavior.query_overrides:
            behavior = apply_query(behavior, query)
        return behavior

    async def _accept_forever(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                tcp = await listener.accept()
            except OSError as exc:
                # Out of file descriptors and the like: keep serving, as
                # trio.serve_listeners does.
                logger.warning("test server accept failed: %r", exc)
                await trio.sleep(0.1)
                continue
            record = ConnectionRecord()
            self.connections.append(record)
            self._accepted.set()
            self._accepted = trio.Event()
            nursery.start_soon(_Connection(self, tcp, record).run)


async def _open_listener(host: str, port: int) -> trio.SocketListener:
    """Listen on the first address ``host`` resolves to (a literal IP is exact)."""
    first, *extra = await trio.open_tcp_listeners(port, host=host)
    for listener in extra:
        await listener.aclose()
    return first


@asynccontextmanager
async def serve(
    behavior: Behavior | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Server]:
    """Run a test WebSocket server for the duration of an ``async with`` block.

    Use it inside a trio task; it runs in a nursery of its own. On exit it
    stops listening and closes every connection abruptly, leaving no task or
    socket behind.

    Args:
        behavior: the default behaviour (``Behavior()`` if omitted).
        host: address to listen on; loopback by default.
        port: TCP port; 0 picks a free one.
        ssl_context: a server-side context to serve ``wss://`` (see
            :func:`tls_contexts`).

    Yields:
        The running :class:`Server`.
    """
    listener = await _open_listener(host, port)
    port = listener.socket.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    scheme = "ws" if ssl_context is None else "wss"
    server = Server(
        behavior or Behavior(),
        url=f"{scheme}://{url_host}:{port}",
        port=port,
        ssl_context=ssl_context,
    )
    # An exception from the body is caught and raised again after the nursery,
    # so the caller sees it as is rather than wrapped in an ExceptionGroup.
    body_error: BaseException | None = None
    async with listener, trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_forever, listener, nursery)
        try:
            yield server
        except BaseException as exc:
            body_error = exc
        finally:
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


class ServerThread:
    """The same test server on a background thread, for code that does not run trio.

    ``with ServerThread(behavior) as server:`` starts a thread running its own
    ``trio.run`` and returns once the server listens; leaving the block stops
    it and joins the thread. Records are written from that thread; use
    :meth:`call` to await their ``wait_*`` methods from outside.
    """

    def __init__(
        self,
        behavior: Behavior | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._behavior = behavior
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._server: Server | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop = trio.CancelScope()
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(
            target=trio.run, args=(self._main,), name="w3cws-test-server", daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        trio.from_thread.run_sync(self._stop.cancel, trio_token=self._token)
        self._thread.join()

    async def _main(self) -> None:
        try:
            with self._stop:
                async with serve(
                    self._behavior, host=self._host, port=self._port, ssl_context=self._ssl_context
                ) as server:
                    self._server = server
                    self._token = trio.lowlevel.current_trio_token()
                    self._ready.set()
                    await trio.sleep_forever()
        except Exception as exc:
            self._error = exc
        finally:
            self._ready.set()

    @property
    def server(self) -> Server:
        """The :class:`Server` running on the thread (only inside the ``with``)."""
        if self._server is None:
            raise RuntimeError("ServerThread is not running")
        return self._server

    @property
    def url(self) -> str:
        """See :attr:`Server.url`."""
        return self.server.url

    @property
    def port(self) -> int:
        """See :attr:`Server.port`."""
        return self.server.port

    @property
    def connections(self) -> list[ConnectionRecord]:
        """See :attr:`Server.connections` (a live list written by the thread)."""
        return self.server.connections

    def route(self, path: str, behavior: Behavior) -> None:
        """See :meth:`Server.route` (one dict assignment, safe from any thread)."""
        self.server.route(path, behavior)

    def call(self, async_fn: Callable[..., Awaitable[_T]], *args: object) -> _T:
        """Run ``async_fn(*args)`` on the server's trio thread and return its result.

        For example ``server.call(record.wait_messages, 2)``.
        """
        return trio.from_thread.run(async_fn, *args, trio_token=self._token)

    def wait_for_connections(self, n: int, *, timeout: float = 5.0) -> None:
        """Block until ``n`` connections were accepted.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """

        async def wait() -> None:
            with trio.fail_after(timeout):
                await self.server.wait_for_connections(n)

        try:
            self.call(wait)
        except trio.TooSlowError:
            raise TimeoutError(f"fewer than {n} connections after {timeout} s") from None


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Make a matching (server, client) SSL context pair for ``wss://`` tests.

    A throwaway CA from ``trustme`` (a test extra, imported here) signs a
    certificate for ``127.0.0.1``, ``localhost`` and ``::1``; the client
    context trusts only that CA.
    """
    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    authority.configure_trust(client_context)
    return server_context, client_context
