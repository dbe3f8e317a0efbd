"""The one object that writes to an open connection, and decides what may be written.

Theory of operation. Everything the client sends goes through the outbox of
a :class:`Writer`: messages from ``send()``, Pongs, and Close frames. The
writer's :class:`Phase` is the one place that says what may still go out
(:meth:`Writer._allows`): messages only while OPEN (WS §3.1 send() step 3:
data queued when the closing handshake starts is dropped, and stays counted
in bufferedAmount); nothing at all after our Close frame (RFC 6455 §5.5.1).

Two tasks write, and neither ever waits for the other, so a server that
stops reading cannot stop the client from reading:

- the reader task, after the listeners it ran queued something
  (:meth:`Writer.write_or_wake`): whatever the kernel takes at once, without
  a switch to another task;
- a writer task, started the first time it is needed, for what other tasks
  queue and for what the kernel did not take at once. It drains everything
  queued into one buffer and one ``send_all`` per round, and ends after our
  Close frame.

Taking queued entries from the outbox commits them: they are written, in
order, whatever happens next (a Close from the server drops only what is
still in the outbox). A message larger than ``limits.WRITE_PIECE_SIZE`` is
committed as its frame's pieces, which the codec masks one at a time while
the writer task writes them (:meth:`FrameCodec.message_pieces`): it is never
copied whole.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import trio

from w3cws._engine import limits
from w3cws._engine.codec import FrameCodec
from w3cws._engine.transport import ByteStream, TCPStream

if TYPE_CHECKING:
    from w3cws._engine.diagnostics import Recorder

__all__ = ["LOST", "Phase", "Writer"]

_log = logging.getLogger("w3cws.engine")

#: What a lost or reset connection raises from a trio stream.
LOST = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class Phase(enum.Enum):
    """Where the connection is in the closing handshake, as the writer sees it."""

    #: Messages, Pongs and a Close may be written.
    OPEN = "open"
    #: The server's Close was read (RFC 6455 §7.1.3): no more messages; Pongs
    #: queued before it and our echo of its Close still go out.
    CLOSE_RECEIVED = "close received"
    #: We are failing the connection (RFC 6455 §7.1.7): only our Close.
    FAILING = "failing"
    #: Our Close frame is written (or being written): nothing may follow it.
    CLOSE_SENT = "close sent"


class _Close:
    """An outbox entry: a Close frame; ``code`` None echoes the server's."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason


class _Pong:
    """An outbox entry: a Pong frame, built when its Ping was read (RFC 6455 §5.5.3)."""

    __slots__ = ("frame",)

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


_Item = tuple[str | bytes | memoryview, int] | _Close | _Pong


class _Bytes:
    """Committed bytes: how many application bytes they carry (for
    bufferedAmount), and whether they end with our Close frame."""

    __slots__ = ("close_sent", "data", "sent_size")

    def __init__(self, data: bytearray | memoryview, sent_size: int, close_sent: bool) -> None:
        self.data = data
        self.sent_size = sent_size
        self.close_sent = close_sent


class _Pieces:
    """A committed large message: its frame's pieces still to write, its application bytes."""

    __slots__ = ("pieces", "sent_size")

    def __init__(self, pieces: Iterator[bytes | memoryview], sent_size: int) -> None:
        self.pieces = pieces
        self.sent_size = sent_size


class Writer:
    """The write side of one open connection.

    Args:
        stream: the connection's byte stream.
        codec: serializes the frames.
        nursery: where the writer task starts, the first time it is needed.
        on_sent: told how many application bytes each written batch carried.
        conn_id: the connection's id, for the log.
        recorder: told about each Close frame written (frame log and traces).
    """

    def __init__(
        self,
        stream: ByteStream,
        codec: FrameCodec,
        nursery: trio.Nursery,
        on_sent: Callable[[int], None],
        conn_id: int,
        *,
        recorder: Recorder | None = None,
    ) -> None:
        self.phase = Phase.OPEN
        #: Set once our Close frame is all on the wire.
        self.close_sent = trio.Event()
        #: Set while the reader runs listeners: what they queue, the reader
        #: writes right after (:meth:`write_or_wake`), so it does not wake
        #: the writer task.
        self.dispatching = False
        self._stream = stream
        self._codec = codec
        self._nursery = nursery
        self._on_sent = on_sent
        self._id = conn_id
        self._recorder = recorder
        self._outbox: deque[_Item] = deque()
        self._wakeup = trio.Event()
        self._task_started = False
        # Set while a task writes to the stream (the writer, in send_all).
        self._writing = False
        # What was taken from the outbox and is not all written yet, in order
        # (the first entry may be partly written).
        self._committed: deque[_Bytes | _Pieces] = deque()
        # The server's Close (code, reason), which our Close echoes.
        self._received: tuple[int, str] | None = None

    # -- what may be written: the one place --

    def _allows(self, item: _Item) -> bool:
        phase = self.phase
        if type(item) is tuple:
            return phase is Phase.OPEN
        if type(item) is _Pong:
            return phase is Phase.OPEN or phase is Phase.CLOSE_RECEIVED
        return phase is not Phase.CLOSE_SENT

    @property
    def idle(self) -> bool:
        """Nothing is being written and nothing taken is left to write."""
        return not self._writing and not self._committed

    # -- queueing --

    def send(self, data: str | bytes | memoryview, size: int) -> None:
        """Queue one message of ``size`` application bytes."""
        self._outbox.append((data, size))
        if not self.dispatching:
            self._wake()

    def ping_received(self, pong: bytes | None) -> None:
        """Answer a Ping (RFC 6455 §5.5.2) with the codec's ``pong``, while open.

        Queued as a frame built when the Ping was read, so it goes out even
        if the server's Close is read right after.
        """
        if self.phase is Phase.OPEN and pong is not None:
            self._outbox.append(_Pong(pong))
            if not self.dispatching:
                self._wake()

    def close(self, code: int | None, reason: str) -> None:
        """close(): queue our Close after what is queued, and write it now if idle.

        ``code`` None (with an empty reason) sends an empty Close body.
        """
        self._outbox.append(_Close(code, reason))
        self.write_or_wake()

    def close_received(self, code: int, reason: str) -> None:
        """The server's Close was read: queue the echo after what is queued (§5.5.1)."""
        self._received = (code, reason)
        if self.phase is Phase.OPEN:
            self.phase = Phase.CLOSE_RECEIVED
        self._outbox.append(_Close(None, ""))
        self.write_or_wake()

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): drop what is queued, send this Close."""
        if self.phase is Phase.CLOSE_SENT:
            return
        self.phase = Phase.FAILING
        self._outbox.clear()
        self._outbox.append(_Close(code, reason))
        self.write_or_wake()

    def going_away(self) -> bytes | None:
        """The Close 1001 to send when the hosting run ends, if one may be sent now."""
        if self.phase is not Phase.OPEN or not self.idle:
            return None
        self.phase = Phase.CLOSE_SENT
        self._outbox.clear()
        return self._codec.close(1001, "")

    def discard(self) -> None:
        """The connection ended: nothing queued will be written."""
        self._outbox.clear()
        self._committed.clear()

    # -- writing --

    def _wake(self) -> None:
        """Have the writer task write what is queued; start it the first time."""
        if not self._task_started:
            self._task_started = True
            self._nursery.start_soon(self._run)
        self._wakeup.set()

    def write_or_wake(self) -> None:
        """The reader's write of what is queued: whatever the kernel takes at
        once; the writer task gets the rest. Never waits."""
        if not self._outbox:
            return
        stream = self._stream
        if not self.idle or type(stream) is not TCPStream:
            self._wake()
            return
        self._commit()
        committed = self._committed
        first = committed[0] if committed else None
        if type(first) is _Bytes:
            try:
                written = stream.send_now(first.data)
            except LOST:
                written = 0  # the writer task meets the same error and stops
            if written == len(first.data):
                committed.popleft()
                self._written(first.sent_size, first.close_sent)
            else:
                first.data = memoryview(first.data)[written:]
        if committed:
            self._wake()

    async def _run(self) -> None:
        """The writer task: write whatever is queued, until our Close is out."""
        try:
            while True:
                # A fresh event before the flush: whatever is queued while it
                # waits for the socket wakes the next round.
                self._wakeup = trio.Event()
                await self._flush()
                if self.close_sent.is_set():
                    # Nothing may follow a Close frame (RFC 6455 §5.5.1): done,
                    # so the end of the connection need not cancel this task.
                    return
                await self._wakeup.wait()
        except LOST as exc:
            # The reader sees the same loss and ends the connection.
            _log.debug("[%d] write failed: %r", self._id, exc)

    async def _flush(self) -> None:
        """Write everything queued: what is committed, then the outbox as one buffer."""
        committed = self._committed
        self._writing = True
        try:
            while committed or self._outbox:
                if not committed:
                    self._commit()
                    continue
                first = committed[0]
                if isinstance(first, _Bytes):
                    committed.popleft()
                    await self._write(first.data)
                    self._written(first.sent_size, first.close_sent)
                else:
                    piece = next(first.pieces, None)
                    if piece is None:
                        # The whole frame is out.
                        committed.popleft()
                        self._written(first.sent_size, False)
                    else:
                        await self._write(piece)
        finally:
            self._writing = False

    async def _write(self, data: bytes | bytearray | memoryview) -> None:
        stream = self._stream
        if type(stream) is TCPStream:
            await stream.send_all(data)
            return
        # TLS encrypts all it is given before it yields: hand it a slice at
        # a time, so a large message never holds up the event loop (each
        # send_all is a checkpoint).
        with memoryview(data) as view:
            for start in range(0, len(view), limits.TLS_WRITE_SIZE):
                await stream.send_all(view[start : start + limits.TLS_WRITE_SIZE])

    def _commit(self) -> None:
        """Take everything queued that may be written: serialized into one
        buffer, but for large messages, which are written piece by piece."""
        codec, outbox = self._codec, self._outbox
        buf = bytearray()
        sent_size = 0
        close_sent = False
        while outbox:
            item = outbox.popleft()
            if not self._allows(item):
                continue
            if type(item) is tuple:
                if item[1] > limits.WRITE_PIECE_SIZE:
                    pieces = codec.message_pieces(item[0])
                    buf += next(pieces)  # the frame's header goes with what precedes it
                    self._committed.append(_Bytes(buf, sent_size, False))
                    self._committed.append(_Pieces(pieces, item[1]))
                    buf, sent_size = bytearray(), 0
                    continue
                codec.append_message(buf, item[0])
                sent_size += item[1]
            elif type(item) is _Pong:
                buf += item.frame
            elif type(item) is _Close:
                buf += self._close_frame(item)
                self.phase = Phase.CLOSE_SENT
                close_sent = True
        if buf:
            self._committed.append(_Bytes(buf, sent_size, close_sent))

    def _close_frame(self, item: _Close) -> bytes:
        code, reason = item.code, item.reason
        if code is None and self._received is not None:
            # Echo the server's Close: same code and reason, and an empty
            # body stays empty (RFC 6455 §5.5.1; read as 1005).
            received_code, received_reason = self._received
            if received_code != 1005:
                code, reason = received_code, received_reason
        if self._recorder is not None:
            self._recorder.close_frame(True, code, reason)
        return self._codec.close(code, reason)

    def _written(self, sent_size: int, close_sent: bool) -> None:
        """Committed bytes are all on the wire: bufferedAmount drops, a Close counts as sent."""
        if sent_size:
            self._on_sent(sent_size)
        if close_sent:
            self.close_sent.set()
            # A writer task still waiting has nothing left to do: let it end.
            self._wakeup.set()
