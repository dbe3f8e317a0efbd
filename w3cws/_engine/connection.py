"""One task per WebSocket: connect, handshake, read, write, close.

Theory of operation. :meth:`Connection.run` is the only task a socket owns
for its whole life, plus a writer task from the first write that needs one
until the Close frame is out. The reader (the ``run`` task itself) parses
frames with wsproto and reports every script-visible step to the
:class:`~w3cws._engine.EngineListener` at once, in arrival order, so each
report is one "task" in the WHATWG sense and no event ever fires inside
``send()`` or ``close()``. ``send()`` only appends to an outbox; ``close()``
also writes the Close frame at once when the socket is idle. What listeners
queue while the reader dispatches, the reader writes right after, as far as
the kernel takes it without waiting; anything else wakes the writer, which
drains everything queued into as few ``send_all`` calls as it can. Neither
ever waits for the other, so a server that stops reading cannot stop the
client from reading.

Every path ends in exactly one ``_on_closed`` report (or ``_on_discarded``
when the hosting trio run is shutting down). Nothing raises out of ``run``
except trio's own cancellation: a system task that raised would crash every
other socket on the same run.

Sections cited: RFC 6455 (§), WHATWG WebSockets (WS §), Chromium's
``net/websockets/websocket_channel.cc`` for the two closing timers.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import ssl
from collections import deque
from typing import cast

import trio
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from w3cws._checks import is_bad_port
from w3cws._engine import ConnectOptions, EngineListener, diagnostics, limits
from w3cws._engine.fastpath import FastClientConnection
from w3cws._engine.handshake import (
    AuthenticationRequired,
    HandshakeFailed,
    Opened,
    OpeningHandshake,
)
from w3cws._engine.proxy import ProxyError
from w3cws._engine.tap import InboundTap
from w3cws._engine.transport import ByteStream, ConnectingTurn, TCPStream, open_stream
from w3cws._url import WebSocketURL

__all__ = ["Connection"]

_log = logging.getLogger("w3cws.engine")
_ids = itertools.count(1)

# What a lost or reset connection raises from a trio stream.
_LOST = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

# RFC 6455 §7.4.1 codes the engine sends itself.
_GOING_AWAY = 1001
_MESSAGE_TOO_BIG = 1009


class _Close:
    """An outbox entry: send a Close frame with this code and reason."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason


class _Pong:
    """An outbox entry: a Pong frame, built when its Ping was read (RFC 6455
    §5.5.3), so it goes out even if the server's Close is read right after."""

    __slots__ = ("frame",)

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


_Item = tuple[str | bytes | memoryview, int] | _Close | _Pong


class Connection:
    """The engine side of one WebSocket.

    Args:
        url: the parsed URL from the constructor.
        options: the keyword-only extras.
        listener: the WebSocket that receives the protocol feedback.
    """

    def __init__(
        self, url: WebSocketURL, options: ConnectOptions, listener: EngineListener
    ) -> None:
        self._url = url
        self._options = options
        self._listener = listener
        self.id = next(_ids)
        # Set once the end was reported: exactly one _on_closed or _on_discarded.
        self._ended = False
        self._outbox: deque[_Item] = deque()
        self._wakeup = trio.Event()
        # The nursery of the open connection, where the writer task is started
        # the first time something needs it.
        self._nursery: trio.Nursery | None = None
        self._writer_started = False
        self._ws: WsprotoConnection | None = None
        self._tap: InboundTap | None = None
        self._deflate = False
        self._stream: ByteStream | None = None
        # Bounds TCP, TLS and the opening handshake: open_timeout, or close().
        self._connect_scope = trio.CancelScope()
        self._aborted = False
        self._turn = ConnectingTurn(url.host, url.port)
        self._read_scope = trio.CancelScope()
        self._close_sent = trio.Event()
        # Set while a task writes to the stream (the writer, in send_all).
        self._writing = False
        # Set while the reader runs listeners: what they queue is written
        # by the reader right after, so it does not wake the writer.
        self._in_dispatch = False
        # A batch partly written by the reader, for the writer to finish:
        # the rest of its bytes, its application bytes, whether it ends in Close.
        self._unsent: tuple[bytearray | memoryview, int, bool] | None = None
        # Set once the connection must be failed (RFC 6455 §7.1.7).
        self._failing = False
        # The message being received, frame by frame.
        self._parts: list[str | bytes | bytearray] = []
        # Code and reason of the first Close frame received (RFC 6455 §7.1.5).
        self._received_close: tuple[int, str] | None = None
        # Why the connection failed, for the console-like WARNING.
        self._cause: str | None = None
        # Frame log, trace and notebook view (WebSocket._repr_html_ reads
        # its last frames): None when nothing records.
        self.recorder = diagnostics.recorder_for(listener, self.id, diagnostics.shown_url(url))

    # -- called by the WebSocket (synchronously, from any task of the run) --

    def send(self, data: str | bytes | memoryview, size: int) -> None:
        """Queue one message; ``str`` goes as text, anything else as binary."""
        self._outbox.append((data, size))
        if self.recorder is not None:
            self.recorder.frame(True, "TEXT" if type(data) is str else "BINARY", data)
        if not self._in_dispatch:
            self._wake_writer()

    def start_closing(self, code: int | None, reason: str) -> None:
        """close() on an open connection: queue a Close after the queued data.

        ``code`` None (with an empty reason) sends an empty Close body.
        The closing timeout starts now, so a server that stopped reading
        (our Close stuck behind queued data) cannot hold the socket open.
        """
        self._outbox.append(_Close(code, reason))
        # The last frame: write it (and what is queued before it) now if the
        # socket is idle, without a switch to the writer task.
        self._write_or_wake()
        self._start_close_timer()

    def abort_connecting(self) -> None:
        """close() while CONNECTING: give up the attempt (WS §3.1 close step 3)."""
        self._aborted = True
        self._connect_scope.cancel()

    # -- the task --

    async def run(self) -> None:
        """Drive the connection to its end; never raises but for cancellation."""
        try:
            await self._run()
        except Exception:
            _log.exception("[%d] unexpected internal error; failing the connection", self.id)
            self._cause = "internal error in w3cws (traceback logged on w3cws.engine)"
            self._failing = True
            await self._close_stream()
            self._report_closed()
        finally:
            self._turn.release()
            if not self._ended:
                # Cancelled: the run (or nursery) hosting this socket is going
                # away, as when a page unloads. Close 1001 where the connection
                # allows it, then no more events.
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await self._send_going_away()
                await self._close_stream()
                self._report_discarded()

    async def _run(self) -> None:
        url = self._url
        # Fetch "port blocking": a bad port is a network error, so the
        # connection fails (WS §2.2) instead of the constructor throwing.
        if is_bad_port(url.explicit_port):
            self._cause = f"port {url.explicit_port} is blocked (Fetch bad port)"
            await trio.lowlevel.checkpoint()
            self._failing = True
            self._report_closed()
            return
        try:
            scope = self._connect_scope
            scope.deadline = trio.current_time() + self._options.open_timeout
            with scope:
                await self._turn.wait()
                opened = await self._open()
            self._turn.release()
            if self._aborted:
                raise HandshakeFailed("close() was called while connecting")
            if scope.cancelled_caught:
                raise TimeoutError(
                    f"not open after {self._options.open_timeout:g} s (open_timeout)"
                )
        except (
            HandshakeFailed,
            OSError,
            trio.BrokenResourceError,
            ssl.SSLError,
            ProxyError,
        ) as exc:
            self._cause = (
                "close() was called before the connection was established"
                if self._aborted
                else diagnostics.describe_failure(exc)
            )
            self._failing = True
            await self._close_stream()
            self._report_closed()
            return
        self._ws, self._tap, self._deflate = opened.connection, opened.tap, opened.deflate
        _log.debug(
            "[%d] open: protocol=%r extensions=%r", self.id, opened.protocol, opened.extensions
        )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            # The open event is dispatched like a message: what its listeners
            # send, this task writes right after.
            self._in_dispatch = True
            try:
                self._listener._on_established(opened.protocol, opened.extensions)
            finally:
                self._in_dispatch = False
            self._write_or_wake()
            await self._reader()
            nursery.cancel_scope.cancel()
            if not nursery.child_tasks:
                # No writer, or it is done (it ends after the Close frame):
                # report now, as leaving the nursery takes a scheduler round.
                await self._close_stream()
                self._report_closed()
        await self._close_stream()
        self._report_closed()

    async def _open(self) -> Opened:
        """TCP, TLS, and the opening handshake (WS §2.2, RFC 6455 §4.1)."""
        url, options = self._url, self._options
        authorization = None
        while True:
            self._stream = stream = await open_stream(
                url.host,
                url.port,
                secure=url.secure,
                ssl_context=options.ssl_context,
                proxy=options.proxy,
            )
            handshake = OpeningHandshake(
                url, options, options.max_handshake_size, authorization, self.recorder
            )
            try:
                return await handshake.exchange(stream)
            except AuthenticationRequired as exc:
                # A 401 answered once with the URL's credentials, in a new request.
                authorization = exc.authorization
                await self._close_stream()

    # -- reading --

    async def _reader(self) -> None:
        """Read and dispatch until the connection ends, however it ends."""
        assert self._stream is not None and self._ws is not None
        stream, ws = self._stream, self._ws
        feed = limits.DEFLATE_FEED_SIZE if self._deflate else limits.RECEIVE_SIZE
        with self._read_scope:
            try:
                # Frames that came with the handshake response are parsed
                # before the first read.
                # (trio types received data as bytes | bytearray; wsproto
                # takes either, though it declares bytes.)
                data = b""
                while True:
                    for start in range(0, len(data) or 1, feed):
                        if data:
                            ws.receive_data(
                                data[start : start + feed] if start or feed < len(data) else data
                            )
                        if not await self._handle_events(ws):
                            return
                    data = cast("bytes", await stream.receive_some(limits.RECEIVE_SIZE))
                    if not data:
                        # TCP closed without a Close frame: RFC 6455 §7.1.5
                        # code 1006; not a failure, so no error event (WS §4).
                        return
            except _LOST as exc:
                _log.debug("[%d] connection lost: %r", self.id, exc)
                return
        # Only the closing timeout (Chromium: 60 s) cancels the read scope:
        # the server never answered our Close. Not a failure: no error event.
        _log.info("[%d] no Close from the server in time; dropping TCP", self.id)

    async def _handle_events(self, ws: WsprotoConnection) -> bool:
        """Act on the frames parsed so far; False once the connection ends.

        What listeners send meanwhile is written right after they ran, by
        this task: an echo costs no switch to the writer task.
        """
        on_message = self._listener._on_message
        recorder = self.recorder
        self._in_dispatch = True
        try:
            for event in ws.items() if type(ws) is FastClientConnection else ws.events():
                if type(event) is str or type(event) is bytes:
                    # The fast path hands whole messages over as they are.
                    if recorder is not None:
                        recorder.frame(False, "TEXT" if type(event) is str else "BINARY", event)
                    on_message(event)
                elif type(event) is CloseConnection:
                    # What listeners queued goes out with the Close echo, in
                    # one write (or is dropped if the connection fails).
                    self._in_dispatch = False
                    await self._on_close_frame(event)
                    return False
                else:
                    self._handle_event(ws, event)
        finally:
            self._in_dispatch = False
        self._write_or_wake()
        return True

    def _handle_event(self, ws: WsprotoConnection, event: object) -> None:
        """A wsproto message event or a Ping (WS §4; RFC 6455 §5.5.2)."""
        if isinstance(event, TextMessage | BytesMessage):
            # The inbound tap (or the fast path) already failed any
            # message past max_message_size, before buffering it.
            chunk = event.data
            parts = self._parts
            if not event.message_finished:
                parts.append(chunk)
                return
            if parts:
                parts.append(chunk)
                chunk = "".join(parts) if isinstance(chunk, str) else b"".join(parts)  # type: ignore[arg-type]
                parts.clear()
            # A whole message: one "message received" step (WS §4).
            data = bytes(chunk) if isinstance(chunk, bytearray) else chunk
            if self.recorder is not None:
                self.recorder.frame(False, "TEXT" if type(data) is str else "BINARY", data)
            self._listener._on_message(data)
        elif isinstance(event, Ping):
            if self.recorder is not None:
                self.recorder.frame(False, "PING", event.payload)
            if ws.state is ConnectionState.OPEN:
                if self.recorder is not None:
                    self.recorder.frame(True, "PONG", event.payload)
                self._queue(_Pong(ws.send(Pong(payload=event.payload))))
        elif isinstance(event, Pong) and self.recorder is not None:
            self.recorder.frame(False, "PONG", event.payload)

    async def _on_close_frame(self, event: CloseConnection) -> None:
        assert self._ws is not None and self._tap is not None
        code, reason = int(event.code), event.reason or ""
        if self._ws.state not in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
            # wsproto reports a protocol error as a CloseConnection while its
            # state stays OPEN or LOCAL_CLOSING; that is not the server's Close.
            tap = self._tap
            if code == _MESSAGE_TOO_BIG:
                reason = "message too big"
            if tap.code != 1014 or code == _MESSAGE_TOO_BIG:
                await self._fail(code, reason)
                return
            # 1014 is registered (IANA) and valid (RFC 6455 §7.4.2), but
            # wsproto does not know it: accept it as the real Close it is.
            try:
                code, reason = 1014, tap.reason.decode("utf-8")
            except UnicodeDecodeError:
                await self._fail(1007, "invalid UTF-8 in the Close reason")
                return
        self._received_close = (code, reason)
        if self.recorder is not None:
            self.recorder.close_frame(False, None if code == 1005 else code, reason)
        if not self._close_sent.is_set():
            # The server started the closing handshake (RFC 6455 §7.1.3): the
            # CLOSING task, then echo its Close after what is queued (§5.5.1).
            self._listener._on_closing_handshake_started()
            self._outbox.append(_Close(None, ""))
            await self._write_close()
        await self._wait_for_tcp_close()

    async def _fail(self, code: int, reason: str) -> None:
        """Fail the WebSocket connection once open (RFC 6455 §7.1.7).

        Send a Close with ``code`` unless one was sent, then give the server
        a short while to close TCP (so it is not left to its own timers); the
        report is then a failure: error, then close 1006.
        """
        self._failing = True
        self._cause = f"protocol error: {reason} (w3cws sent close code {code})"
        if not self._close_sent.is_set():
            self._outbox.clear()
            self._outbox.append(_Close(code, reason))
            await self._write_close()
        await self._wait_for_tcp_close()

    async def _write_close(self) -> None:
        """Write the queued Close now, or give the writer a short while for it."""
        self._write_or_wake()
        if not self._close_sent.is_set():
            with trio.move_on_after(self._options.tcp_close_timeout):
                await self._close_sent.wait()

    async def _wait_for_tcp_close(self) -> None:
        """After the Close frames the server closes TCP first (RFC 6455 §7.1.1);
        Chromium waits 2 s for that, then closes it itself."""
        assert self._stream is not None
        with trio.move_on_after(self._options.tcp_close_timeout):
            try:
                while await self._stream.receive_some(limits.RECEIVE_SIZE):
                    pass  # data after the server's Close is ignored
            except _LOST:
                pass

    # -- writing --

    def _queue(self, item: _Item) -> None:
        self._outbox.append(item)
        if not self._in_dispatch:
            self._wake_writer()

    def _wake_writer(self) -> None:
        """Have the writer task write what is queued; start it the first time."""
        if not self._writer_started and self._nursery is not None:
            self._writer_started = True
            self._nursery.start_soon(self._writer)
        self._wakeup.set()

    def _write_or_wake(self) -> None:
        """The reader's write of what is queued: whatever the kernel takes at
        once, the writer task gets the rest. Never waits, so a server that
        stops reading cannot stop us reading."""
        if not self._outbox:
            return
        stream = self._stream
        if self._writing or self._unsent is not None or type(stream) is not TCPStream:
            self._wake_writer()
            return
        buf, sent_size, close_sent = self._take_batch()
        try:
            written = stream.send_now(buf) if buf else 0
        except _LOST:
            written = 0  # the writer meets the same error and stops
        if written == len(buf):
            self._batch_written(sent_size, close_sent)
        else:
            self._unsent = (memoryview(buf)[written:], sent_size, close_sent)
            self._wake_writer()

    async def _writer(self) -> None:
        """Write what is queued whenever the reader does not: what other tasks
        send, and what the kernel did not take at once."""
        try:
            while True:
                # A fresh event before the flush: whatever is queued while it
                # waits for the socket wakes the next round.
                self._wakeup = trio.Event()
                await self._flush()
                if self._close_sent.is_set():
                    # Nothing may follow a Close frame (RFC 6455 §5.5.1): done,
                    # so the end of the connection need not cancel this task.
                    return
                await self._wakeup.wait()
        except _LOST as exc:
            # The reader sees the same loss and ends the connection.
            _log.debug("[%d] write failed: %r", self.id, exc)

    async def _flush(self) -> None:
        """Write everything queued, as one buffer and one write per round."""
        assert self._stream is not None
        stream = self._stream
        self._writing = True
        try:
            while self._unsent is not None or self._outbox:
                if self._unsent is not None:
                    buf, sent_size, close_sent = self._unsent
                else:
                    buf, sent_size, close_sent = self._take_batch()
                if buf:
                    await stream.send_all(buf)
                self._unsent = None
                self._batch_written(sent_size, close_sent)
        finally:
            self._writing = False

    def _take_batch(self) -> tuple[bytearray, int, bool]:
        """Serialize everything queued into one buffer.

        Returns:
            The bytes, how many application bytes they carry (for
            bufferedAmount), and whether they end with our Close frame.
        """
        assert self._ws is not None
        ws, outbox = self._ws, self._outbox
        fast = type(ws) is FastClientConnection
        buf = bytearray()
        sent_size = 0
        close_sent = False
        while outbox:
            item = outbox.popleft()
            if type(item) is tuple:
                # WS §3.1 send step 3 sends only before the closing
                # handshake starts; data still queued then is dropped
                # (and stays counted in bufferedAmount).
                if ws.state is ConnectionState.OPEN and not self._failing:
                    if fast:
                        ws.append_message(buf, item[0])  # type: ignore[attr-defined]
                    else:
                        buf += ws.send(Message(data=item[0]))  # type: ignore[type-var]
                    sent_size += item[1]
            elif isinstance(item, _Pong):
                buf += item.frame
            elif (
                isinstance(item, _Close)
                and not close_sent
                and ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
            ):
                close = self._close_event(item)
                buf += ws.send(close)
                close_sent = True
                if self.recorder is not None:
                    code = None if close.code is None else int(close.code)
                    self.recorder.close_frame(True, code, close.reason or "")
        return buf, sent_size, close_sent

    def _batch_written(self, sent_size: int, close_sent: bool) -> None:
        """A batch is all on the wire: bufferedAmount drops, a Close counts as sent."""
        if sent_size:
            self._listener._on_sent(sent_size)
        if close_sent:
            self._close_sent.set()
            # A writer still waiting has nothing left to do: let it end.
            self._wakeup.set()

    def _close_event(self, item: _Close) -> CloseConnection:
        if item.code is None and self._received_close is not None:
            # Echo the server's Close: same code and reason, and an empty
            # body stays empty (RFC 6455 §5.5.1; wsproto reads it as 1005).
            code, reason = self._received_close
            if code != 1005:
                return CloseConnection(code=code, reason=reason)
        return CloseConnection(code=item.code, reason=item.reason or None)  # type: ignore[arg-type]

    def _start_close_timer(self) -> None:
        # Chromium's closing handshake timeout: the server has this long to
        # answer our Close (and to close TCP) before we drop the connection.
        deadline = trio.current_time() + self._options.close_timeout
        self._read_scope.deadline = min(self._read_scope.deadline, deadline)

    # -- endings --

    async def _send_going_away(self) -> None:
        ws, stream = self._ws, self._stream
        if (
            ws is None
            or stream is None
            or self._writing
            or self._unsent is not None  # a frame is half written
            or ws.state is not ConnectionState.OPEN
        ):
            return
        with contextlib.suppress(*_LOST, LocalProtocolError):
            await stream.send_all(ws.send(CloseConnection(code=_GOING_AWAY)))

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if isinstance(stream, TCPStream):
            # Plain TCP closes at once, without a scheduler round.
            stream.close()
        elif stream is not None:
            # TLS says close_notify first: bounded, and even when cancelled.
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(1) as scope,
                contextlib.suppress(*_LOST),
            ):
                await stream.aclose()
            if scope.cancelled_caught:
                await trio.aclose_forcefully(stream)

    def _report_closed(self) -> None:
        """The connection is closed (WS §4): report how, exactly once."""
        if self._ended:
            return
        self._ended = True
        self._outbox.clear()
        received = self._received_close
        if self._failing:
            was_clean, code, reason = False, 1006, ""
        elif received is not None:
            # RFC 6455 §7.1.4: clean when the closing handshake completed.
            was_clean, (code, reason) = self._close_sent.is_set(), received
        else:
            was_clean, code, reason = False, 1006, ""
        _log.debug(
            "[%d] closed: clean=%s code=%d failed=%s", self.id, was_clean, code, self._failing
        )
        cause = (self._cause or "the connection was lost") if self._failing else None
        if cause is not None:
            diagnostics.log_failure(diagnostics.shown_url(self._url), cause)
        if self.recorder is not None:
            self.recorder.closed(was_clean=was_clean, code=code, reason=reason, cause=cause)
        self._listener._on_closed(
            was_clean=was_clean, code=code, reason=reason, failed=self._failing
        )

    def _report_discarded(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._outbox.clear()
        self._listener._on_discarded()
