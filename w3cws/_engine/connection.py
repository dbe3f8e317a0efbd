"""One task per WebSocket: connect, handshake, read, and the closing handshake.

Theory of operation. :meth:`Connection.run` is the only task a socket owns
for its whole life, plus the :class:`~w3cws._engine.writer.Writer`'s task
from the first write that needs one until the Close frame is out. The
reader (the ``run`` task itself) hands the bytes read to the frame codec
(:mod:`w3cws._engine.codec`) and reports every script-visible step to the
:class:`~w3cws._engine.EngineListener` at once, in arrival order, so each
report is one "task" in the WHATWG sense and no event ever fires inside
``send()`` or ``close()``. ``send()`` and ``close()`` only queue on the
writer (``close()`` also writes at once when the socket is idle); what
listeners queue while the reader dispatches, the reader writes right after.

Every path ends in exactly one ``_on_closed`` report (or ``_on_discarded``
when the hosting trio run is shutting down). Nothing raises out of ``run``
except trio's own cancellation: a system task that raised would crash every
other socket on the same run.

Sections cited: RFC 6455 (§), WHATWG WebSockets (WS §), and Chromium's
closing timers (``net/websockets/websocket_channel.cc``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import ssl

import trio

from w3cws._checks import is_bad_port
from w3cws._engine import diagnostics, limits
from w3cws._engine.codec import (
    CloseReceived,
    FrameCodec,
    Inbound,
    PingReceived,
    ProtocolFailure,
)
from w3cws._engine.handshake import (
    AuthenticationRequired,
    HandshakeFailed,
    Opened,
    OpeningHandshake,
)
from w3cws._engine.interfaces import ConnectOptions, EngineListener
from w3cws._engine.proxy import ProxyError
from w3cws._engine.transport import ByteStream, ConnectingTurn, TCPStream, open_stream
from w3cws._engine.writer import LOST, Phase, Writer
from w3cws._url import WebSocketURL

__all__ = ["Connection"]

_log = logging.getLogger("w3cws.engine")
_ids = itertools.count(1)


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
        # Set once open: the codec reads, the writer writes.
        self._codec: FrameCodec | None = None
        self._writer: Writer | None = None
        self._stream: ByteStream | None = None
        # Bounds TCP, TLS and the opening handshake: open_timeout, or close().
        # Made when the task starts, with its deadline.
        self._connect_scope: trio.CancelScope | None = None
        self._aborted = False
        self._turn = ConnectingTurn(url.host, url.port)
        self._read_scope = trio.CancelScope()
        # Set once the connection must be failed (RFC 6455 §7.1.7).
        self._failing = False
        # Code and reason of the first Close frame received (RFC 6455 §7.1.5).
        self._received_close: tuple[int, str] | None = None
        # Why the connection failed, for the console-like WARNING.
        self._cause: str | None = None
        #: Frame log, trace and notebook view (``WebSocket._repr_html_`` reads
        #: its last frames): None when nothing records.
        self.recorder = diagnostics.recorder_for(listener, self.id, diagnostics.shown_url(url))

    # -- called by the WebSocket (synchronously, from any task of the run) --

    def send(self, data: str | bytes | memoryview, size: int) -> None:
        """Queue one message; ``str`` goes as text, anything else as binary."""
        writer = self._writer
        if writer is not None:
            if self.recorder is not None:
                self.recorder.frame(True, "TEXT" if type(data) is str else "BINARY", data)
            writer.send(data, size)

    def start_closing(self, code: int | None, reason: str) -> None:
        """close() on an open connection: queue a Close after the queued data.

        ``code`` None (with an empty reason) sends an empty Close body.
        The closing timeout starts now, so a server that stopped reading
        (our Close stuck behind queued data) cannot hold the socket open.
        """
        writer = self._writer
        if writer is None:
            return
        writer.close(code, reason)
        # Chromium's closing handshake timeout: the server has this long to
        # answer our Close (and to close TCP) before we drop the connection.
        deadline = trio.current_time() + self._options.close_timeout
        self._read_scope.deadline = min(self._read_scope.deadline, deadline)

    def abort_connecting(self) -> None:
        """close() while CONNECTING: give up the attempt (WS §3.1 close step 3)."""
        self._aborted = True
        if self._connect_scope is not None:
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
            scope = self._connect_scope = trio.CancelScope(
                deadline=trio.current_time() + self._options.open_timeout
            )
            if self._aborted:
                scope.cancel()
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
        assert self._stream is not None
        self._codec = opened.codec
        _log.debug(
            "[%d] open: protocol=%r extensions=%r codec=%s",
            self.id,
            opened.protocol,
            opened.extensions,
            type(opened.codec).__name__,
        )
        async with trio.open_nursery() as nursery:
            writer = self._writer = Writer(
                self._stream,
                opened.codec,
                nursery,
                self._listener._on_sent,
                self.id,
                recorder=self.recorder,
            )
            # The open event is dispatched like a message: what its listeners
            # send, this task writes right after.
            writer.dispatching = True
            try:
                self._listener._on_established(opened.protocol, opened.extensions)
            finally:
                writer.dispatching = False
            writer.write_or_wake()
            await self._reader(opened.trailing)
            if nursery.child_tasks:
                nursery.cancel_scope.cancel()
            else:
                # No writer task, or it is done (it ends after the Close frame):
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
                # Fetch's HTTP-authentication step: a 401 answered once with
                # the URL's credentials, in a new request.
                authorization = exc.authorization
                await self._close_stream()

    # -- reading --

    async def _reader(self, data: bytes | bytearray) -> None:
        """Read and dispatch until the connection ends, however it ends.

        ``data`` holds the frames that came with the handshake response: they
        are parsed before the first read.
        """
        assert self._stream is not None and self._codec is not None
        stream, codec = self._stream, self._codec
        feed = codec.feed_size
        with self._read_scope:
            try:
                while True:
                    if len(data) <= feed:
                        if data and not await self._dispatch(codec.receive(data)):
                            return
                    else:
                        for start in range(0, len(data), feed):
                            if not await self._dispatch(codec.receive(data[start : start + feed])):
                                return
                    data = await stream.receive_some(limits.RECEIVE_SIZE)
                    if not data:
                        # TCP closed without a Close frame: RFC 6455 §7.1.5
                        # code 1006; not a failure, so no error event (WS §4).
                        return
            except LOST as exc:
                _log.debug("[%d] connection lost: %r", self.id, exc)
                return
        # Only the closing timeout (Chromium: 60 s) cancels the read scope:
        # the server never answered our Close. Not a failure: no error event.
        _log.info("[%d] no Close from the server in time; dropping TCP", self.id)

    async def _dispatch(self, items: list[Inbound]) -> bool:
        """Act on what the codec parsed; False once the connection ends.

        What listeners send meanwhile is written right after they ran, by
        this task: an echo costs no switch to the writer task.
        """
        writer = self._writer
        assert writer is not None
        on_message = self._listener._on_message
        recorder = self.recorder
        writer.dispatching = True
        try:
            for item in items:
                if type(item) is str or type(item) is bytes:
                    # A whole message: one "message received" step (WS §4).
                    if recorder is not None:
                        recorder.frame(False, "TEXT" if type(item) is str else "BINARY", item)
                    on_message(item)
                elif type(item) is PingReceived:
                    if recorder is not None:
                        recorder.frame(False, "PING", item.payload)
                        if item.pong is not None and writer.phase is Phase.OPEN:
                            recorder.frame(True, "PONG", item.payload)
                    writer.ping_received(item.pong)
                else:
                    # The last item: what listeners queued goes out with the
                    # Close echo, in one write (or is dropped on failure).
                    writer.dispatching = False
                    if type(item) is CloseReceived:
                        await self._on_close_frame(writer, item)
                    elif type(item) is ProtocolFailure:
                        await self._fail(writer, item)
                    return False
        finally:
            writer.dispatching = False
        writer.write_or_wake()
        return True

    async def _on_close_frame(self, writer: Writer, close: CloseReceived) -> None:
        """The server's Close (RFC 6455 §5.5.1, §7.1.3)."""
        self._received_close = (close.code, close.reason)
        if self.recorder is not None:
            code = None if close.code == 1005 else close.code
            self.recorder.close_frame(False, code, close.reason)
        if not writer.close_sent.is_set():
            # The server started the closing handshake (RFC 6455 §7.1.3): the
            # CLOSING task, then echo its Close after what is queued (§5.5.1).
            self._listener._on_closing_handshake_started()
            writer.close_received(close.code, close.reason)
            await self._wait_for_close_sent(writer)
        await self._wait_for_tcp_close()

    async def _fail(self, writer: Writer, failure: ProtocolFailure) -> None:
        """Fail the WebSocket connection once open (RFC 6455 §7.1.7).

        Send a Close with the failure's code and reason unless one was sent,
        then give the server a short while to close TCP (so it is not left
        to its own timers); the report is then a failure: error, then 1006.
        """
        self._cause = f"protocol error: {failure.reason} (w3cws sent close code {failure.code})"
        self._failing = True
        if not writer.close_sent.is_set():
            writer.fail(failure.code, failure.reason)
            await self._wait_for_close_sent(writer)
        await self._wait_for_tcp_close()

    async def _wait_for_close_sent(self, writer: Writer) -> None:
        """Give the writer a short while to get our Close out."""
        if not writer.close_sent.is_set():
            with trio.move_on_after(self._options.tcp_close_timeout):
                await writer.close_sent.wait()

    async def _wait_for_tcp_close(self) -> None:
        """After the Close frames the server closes TCP first (RFC 6455 §7.1.1);
        Chromium waits 2 s for that, then closes it itself."""
        stream = self._stream
        assert stream is not None
        if type(stream) is TCPStream:
            # The server usually closes TCP right after its Close frame, so
            # the end is most likely there already: take it without waiting.
            try:
                if stream.receive_now(limits.RECEIVE_SIZE) == b"":
                    return
            except LOST:
                return
        with trio.move_on_after(self._options.tcp_close_timeout):
            try:
                while await stream.receive_some(limits.RECEIVE_SIZE):
                    pass  # data after the server's Close is ignored
            except LOST:
                pass

    # -- endings --

    async def _send_going_away(self) -> None:
        writer, stream = self._writer, self._stream
        if writer is None or stream is None:
            return
        frame = writer.going_away()
        if frame is not None:
            with contextlib.suppress(*LOST):
                await stream.send_all(frame)

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
                contextlib.suppress(*LOST),
            ):
                await stream.aclose()
            if scope.cancelled_caught:
                await trio.aclose_forcefully(stream)

    def _report_closed(self) -> None:
        """The connection is closed (WS §4): report how, exactly once."""
        if self._ended:
            return
        self._ended = True
        if self._writer is not None:
            self._writer.discard()
        received = self._received_close
        if self._failing:
            was_clean, code, reason = False, 1006, ""
        elif received is not None:
            # RFC 6455 §7.1.4: clean when the closing handshake completed.
            assert self._writer is not None
            was_clean, (code, reason) = self._writer.close_sent.is_set(), received
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
        if self._writer is not None:
            self._writer.discard()
        self._listener._on_discarded()
