"""A hostile WebSocket server on raw loopback sockets, and the checks the tests share.

:class:`Hostile` is a trio stream handler for ``raw_server`` (from the
websocket tests' conftest): it reads the client's request, answers it (a
correct 101, any bytes, or nothing), then plays a list of steps — bytes sent
at once or a byte at a time, sleeps, a TCP reset, a FIN, or holding the
connection open — while a second task drains and records what the client
sends, so a client that writes never blocks on a server that does not read.

:func:`check_story` holds the WHATWG promises every test here relies on: at
most one ``error``, just before the one ``close``, which comes last; events
see the right ``readyState``; ``readyState`` never goes backwards.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import trio
import trio.testing

from w3cws import WebSocket

from ..websocket.conftest import Trace, accept_response, read_request

__all__ = [
    "Drip",
    "Fin",
    "FrameReader",
    "Hold",
    "Hostile",
    "Reset",
    "Sleep",
    "StateSampler",
    "check_story",
    "engine_errors",
    "open_fds",
    "reset",
]


# -- steps ---------------------------------------------------------------------


@dataclass(frozen=True)
class Drip:
    """Send ``data`` one byte at a time, ``interval`` seconds apart (slowloris)."""

    data: bytes
    interval: float = 1.0


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Abort TCP with a RST (SO_LINGER 0), dropping whatever is unsent."""


@dataclass(frozen=True)
class Fin:
    """Close TCP normally (a FIN), with no Close frame unless one was sent."""


@dataclass(frozen=True)
class Hold:
    """Send nothing more; the connection ends when the client's side does."""


Step = bytes | Drip | Sleep | Reset | Fin | Hold


def reset(stream: trio.SocketStream) -> None:
    """Make the next close of ``stream`` send a RST instead of a FIN."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# -- what the client sent --------------------------------------------------------


class FrameReader:
    """Incremental, linear-time parser of client frames (masked, RFC 6455 §5.2).

    Keeps every frame's opcode, and the payload of control frames and of the
    first ``keep`` data frames.
    """

    def __init__(self, keep: int = 1000) -> None:
        self._buffer = bytearray()
        self._keep = keep
        self.frames: list[tuple[int, bytes]] = []
        self.total = 0

    def feed(self, data: bytes | bytearray) -> None:
        """Add received bytes and parse every whole frame in them."""
        self.total += len(data)
        buf = self._buffer
        buf += data
        pos = 0
        while len(buf) - pos >= 2:
            opcode, n, masked = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, buf[pos + 1] & 0x80
            i = pos + 2
            if n == 126:
                if len(buf) < i + 2:
                    break
                n, i = int.from_bytes(buf[i : i + 2], "big"), i + 2
            elif n == 127:
                if len(buf) < i + 8:
                    break
                n, i = int.from_bytes(buf[i : i + 8], "big"), i + 8
            key = bytes(buf[i : i + 4]) if masked else b"\0\0\0\0"
            i += 4 if masked else 0
            if len(buf) < i + n:
                break
            if opcode >= 0x8 or len(self.frames) < self._keep:
                raw = int.from_bytes(buf[i : i + n], "big") ^ int.from_bytes(
                    (key * (n // 4 + 1))[:n], "big"
                )
                payload = raw.to_bytes(n, "big")
            else:
                payload = b""
            self.frames.append((opcode, payload))
            pos = i + n
        del buf[:pos]

    @property
    def opcodes(self) -> list[int]:
        return [op for op, _ in self.frames]

    @property
    def close_frames(self) -> list[bytes]:
        return [p for op, p in self.frames if op == 0x8]


# -- the server ------------------------------------------------------------------


@dataclass
class Hostile:
    """A scripted raw server for one or more connections.

    Args:
        steps: what to do once the handshake is answered, in order; after the
            last one the connection is held until the client closes TCP,
            unless a :class:`Reset` ended it.
        response: ``None`` for a correct 101 (plus ``extra`` headers); a
            step (bytes, a :class:`Drip`...) to play instead.
        read_request: read the client's request before answering.
        echo_close: answer the client's Close with the same body.
        fin_on_close: close TCP once the client's Close arrived (RFC 6455
            §7.1.1: the server closes first); False holds it open.
        read_while_playing: False reads nothing until the steps are done, like
            a server that floods the client without ever reading.
        observe: called at every step and every read (e.g. a :class:`StateSampler`).

    ``played`` is set once the steps ran (or the connection ended), ``done``
    once the connection is closed.
    """

    steps: Sequence[Step] = ()
    response: Step | None = None
    extra: bytes = b""
    read_request: bool = True
    echo_close: bool = False
    fin_on_close: bool = True
    read_while_playing: bool = True
    requests: list[bytes] = field(default_factory=list)
    received: FrameReader = field(default_factory=FrameReader)
    sent: int = 0
    observe: Callable[[], object] = lambda: None
    played: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)

    async def __call__(self, stream: trio.SocketStream) -> None:
        lock = trio.Lock()
        try:
            async with trio.open_nursery() as nursery:
                if self.read_request:
                    request = await read_request(stream)
                    self.requests.append(request)
                    if b"\r\n\r\n" not in request:
                        return
                    if self.response is None:
                        await self._send(stream, lock, accept_response(request, self.extra))
                # The drain ends the connection (cancels the nursery) at the
                # client's EOF, or at its Close when ``fin_on_close``.
                drain = partial(self._drain, stream, lock, nursery.cancel_scope)
                if self.read_while_playing:
                    nursery.start_soon(drain)
                steps = self.steps if self.response is None else [self.response, *self.steps]
                ended = await self._play(stream, lock, steps)
                self.played.set()
                if ended:
                    nursery.cancel_scope.cancel()
                    return
                if not self.read_while_playing:
                    nursery.start_soon(drain)
                # Hold, or simply the end of the steps: wait for the drain.
                await trio.sleep_forever()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.played.set()
            self.done.set()
            await trio.aclose_forcefully(stream)

    async def _send(self, stream: trio.SocketStream, lock: trio.Lock, data: bytes) -> None:
        async with lock:
            await stream.send_all(data)
        self.sent += len(data)

    async def _play(
        self, stream: trio.SocketStream, lock: trio.Lock, steps: Sequence[Step]
    ) -> bool:
        """Run ``steps``; True when the connection must end now (reset or FIN)."""
        for step in steps:
            self.observe()
            if isinstance(step, bytes):
                await self._send(stream, lock, step)
            elif isinstance(step, Drip):
                for i in range(len(step.data)):
                    await self._send(stream, lock, step.data[i : i + 1])
                    await trio.sleep(step.interval)
                    self.observe()
            elif isinstance(step, Sleep):
                await trio.sleep(step.seconds)
            elif isinstance(step, Reset):
                reset(stream)
                return True
            elif isinstance(step, Fin):
                return True
            elif isinstance(step, Hold):
                break
        return False

    async def _drain(
        self, stream: trio.SocketStream, lock: trio.Lock, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await stream.receive_some(1 << 16):
                self.observe()
                had_close = bool(self.received.close_frames)
                self.received.feed(data)
                closes = self.received.close_frames
                if closes and not had_close:
                    if self.echo_close:
                        await self._send(stream, lock, bytes([0x88, len(closes[0])]) + closes[0])
                    if self.fin_on_close:
                        break
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()


# -- checks ------------------------------------------------------------------------


class StateSampler:
    """Samples ``ws.readyState`` when called (the server calls it at each step).

    A polling task would keep trio's MockClock from ever jumping, so the
    samples are taken where the story moves: at each server step and event.
    """

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.states: list[int] = [ws.readyState]

    def __call__(self) -> None:
        state = self.ws.readyState
        if state != self.states[-1]:
            self.states.append(state)

    def check(self) -> None:
        self()
        assert self.states == sorted(self.states), f"readyState went back: {self.states}"


def check_story(t: Trace) -> None:
    """The event sequence a script may see, whatever the server did."""
    types = t.types
    assert types.count("close") == 1, types
    assert types[-1] == "close", types
    assert types.count("error") <= 1, types
    if "error" in types:
        assert types[-2] == "error", types
        assert t.close[2:] == (1006, "", False), t.close
    assert types.count("open") <= 1, types
    if "open" in types:
        assert types[0] == "open", types
    else:
        assert "message" not in types, types
    expected_state = {"open": 1, "message": 1, "error": 3, "close": 3}
    for event in t.events:
        assert event[1] == expected_state[event[0]], event
    code = t.close[2]
    assert isinstance(code, int), code
    assert code in (1000, 1005, 1006) or 1000 <= code <= 4999, code
    assert t.ws.readyState == WebSocket.CLOSED


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # A failed connection's cause (w3cws.connection) is expected here.
        if record.name != "w3cws.connection":
            self.records.append(record)


@contextmanager
def engine_errors() -> Iterator[list[logging.LogRecord]]:
    """Collect WARNING-and-above records of the ``w3cws`` loggers in the block,
    but for the failure causes of ``w3cws.connection``.

    An internal error of the engine and an exception a listener raised are
    both reported there, so an empty list means none reached user code.
    """
    handler = _Collect()
    logger = logging.getLogger("w3cws")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def proc_status(field_name: str) -> int:
    """A ``/proc/self/status`` field in bytes (VmRSS, VmHWM...)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field_name)


async def settle() -> None:
    """Let every task that can finish, finish."""
    await trio.testing.wait_all_tasks_blocked()
