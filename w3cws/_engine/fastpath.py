"""Faster frame handling for a client connection that uses no extension.

wsproto's high-level ``Connection`` spends most of a small message's time
outside the wire format: a frozen dataclass per event, a generator per
parse step, extension hooks that copy every payload twice, and a fresh
``os.urandom(4)`` system call per frame sent. Without permessage-deflate
none of that is needed, so :class:`FastClientConnection` keeps wsproto's
``Connection`` interface (``state``, ``send``, ``receive_data``, ``events``)
and its exact behaviour (same bytes on the wire for the same masking key,
same events, same protocol errors with the same close codes and reasons)
but does the frame work itself:

- **sending**: a frame is serialized into a caller's ``bytearray``
  (:meth:`FastClientConnection.append_message`), so a batch of queued
  messages becomes one buffer and one write. Small payloads are masked with
  one big-integer XOR, large ones with four strided ``bytes.translate``
  passes (the fastest pure-Python mask: about 2 ns a byte). Masking keys
  come from ``os.urandom`` in blocks of 64 keys: each frame still gets a
  fresh, unpredictable key from the OS CSPRNG (RFC 6455 §5.3).
- **receiving**: frames are parsed straight from the bytes read, by index,
  without wsproto's ``Buffer``. A whole message is delivered as one
  ``str``/``bytes`` item (:meth:`FastClientConnection.items`), no event
  object; a message received in pieces is joined once, at its end. A
  message that announces more than ``max_message_size`` bytes fails with
  1009 before any of it is buffered, as the ``InboundTap`` does under wsproto.

Only the ``InboundTap`` may be active; the fast path does its size check
itself and shows it every Close payload, as under wsproto.
"""

from __future__ import annotations

import codecs
import os
import struct
from collections.abc import Callable, Generator
from contextlib import suppress

from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits
from wsproto.utilities import LocalProtocolError

from w3cws._engine.tap import InboundTap

__all__ = [
    "FastClientConnection",
    "Item",
    "mask",
    "serialize_frame",
    "supports",
]

#: What :meth:`FastClientConnection.items` hands out: a whole message as
#: ``str`` (text) or ``bytes`` (binary), or a wsproto event for the rest.
Item = str | bytes | Event

# One translation table per key byte: table[k][b] == b ^ k.
_XOR_TABLES = [bytes(b ^ k for b in range(256)) for k in range(256)]

# Payloads up to this size are masked with one integer XOR; larger ones with
# four strided translate passes (faster from about 1-2 KiB on).
_SMALL_MASK = 1024

_KEY_BLOCK = 256  # bytes of masking keys fetched from the OS at once (64 keys)
# Close codes wsproto rewrites to 1000 (RFC 6455 §7.4.1: never sent), and
# the longest reason it sends whole (a control frame carries 125 bytes).
_LOCAL_ONLY_CODES = frozenset({1005, 1006, 1015})
_MAX_CLOSE_REASON = 123

_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack

_NO_RSV = RsvBits(False, False, False)
_OPCODES = {op.value: op for op in Opcode}
_OPEN = ConnectionState.OPEN
_LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED


class _ParseFailed(Exception):
    """A protocol error: report it as wsproto does, with a code and a reason."""

    def __init__(self, reason: str, code: int = CloseReason.PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code


def mask(payload: bytes | bytearray | memoryview, key: bytes) -> bytes | bytearray:
    """``payload`` XOR the 4-byte ``key`` repeated (RFC 6455 §5.3), as a new object."""
    n = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
    if n <= _SMALL_MASK:
        keys = (key * ((n >> 2) + 1))[:n]
        return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
            n, "little"
        )
    out = bytearray(payload)
    _mask_tail(out, 0, key)
    return out


def _mask_tail(buf: bytearray, start: int, key: bytes) -> None:
    """Mask ``buf[start:]`` in place."""
    tables = _XOR_TABLES
    for lane in range(4):
        index = start + lane
        buf[index::4] = buf[index::4].translate(tables[key[lane]])


def _append_frame(
    out: bytearray, opcode: int, payload: bytes | bytearray | memoryview, key: bytes, fin: bool
) -> None:
    """Append one masked client frame (no RSV bits) to ``out``."""
    n = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
    first = opcode | 0x80 if fin else opcode
    if n < 126:
        out += bytes((first, 0x80 | n))
    elif n < 0x10000:
        out += _pack_short(first, 0xFE, n)
    else:
        out += _pack_long(first, 0xFF, n)
    out += key
    if n <= _SMALL_MASK:
        if n:
            keys = (key * ((n >> 2) + 1))[:n]
            out += (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
                n, "little"
            )
    else:
        start = len(out)
        out += payload
        _mask_tail(out, start, key)


def _close_body(code: int | None, reason: str | None) -> bytes | None:
    """The body wsproto writes for a Close with ``code`` and ``reason``, for
    the cases sent in practice; None for the rest (wsproto handles them)."""
    if code is None:
        return None if reason else b""
    if code < 1000 or code in _LOCAL_ONLY_CODES:
        return None
    body = code.to_bytes(2, "big")
    if reason:
        encoded = reason.encode("utf-8")
        if len(encoded) > _MAX_CLOSE_REASON:
            return None
        body += encoded
    return body


def serialize_frame(
    opcode: int, payload: bytes | bytearray | memoryview, key: bytes, fin: bool = True
) -> bytearray:
    """One masked client frame, byte for byte what wsproto sends with ``key``."""
    out = bytearray()
    _append_frame(out, opcode, payload, key, fin)
    return out


def supports(extensions: list[Extension] | None) -> bool:
    """Whether :class:`FastClientConnection` can stand in with these extensions."""
    return all(isinstance(ext, InboundTap) or not ext.enabled() for ext in extensions or ())


class FastClientConnection(WsprotoConnection):
    """wsproto's client ``Connection``, with the frame work done here.

    Args:
        extensions: as for wsproto; only an ``InboundTap`` may be enabled
            (see :func:`supports`).
        trailing_data: bytes received right after the handshake response.
        max_message_size: a message announcing more than this many bytes
            fails the connection with 1009. None: no bound.
        urandom: the source of masking keys (tests pass a fixed one).

    Raises:
        ValueError: an extension other than the tap is enabled.
    """

    def __init__(
        self,
        extensions: list[Extension] | None = None,
        trailing_data: bytes = b"",
        *,
        max_message_size: int | None = None,
        urandom: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not supports(extensions):
            raise ValueError("FastClientConnection takes no extension but the Close-code tap")
        self._taps = [ext for ext in extensions or () if ext.enabled()]
        self._max = max_message_size if max_message_size is not None else 1 << 62
        self._urandom = urandom
        self._keys = b""
        self._key_pos = 0
        self._items: list[Item] = []
        self._pending = b""  # an incomplete frame header or control frame
        self._stopped = False  # after a Close frame or a protocol error
        # The data frame being received: payload bytes still to come.
        self._remaining = 0
        self._frame_fin = False
        # The message being received (opcode 1 or 2), its pieces so far and
        # their size in bytes.
        self._msg_opcode = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        # wsproto's constructor sets the state, then feeds ``trailing_data``.
        super().__init__(ConnectionType.CLIENT, extensions, trailing_data)

    # -- sending --

    def _key(self) -> bytes:
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = self._urandom(_KEY_BLOCK)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos : pos + 4]

    def append_message(self, out: bytearray, data: str | bytes | bytearray | memoryview) -> None:
        """Append one whole message as a frame to ``out``: text for ``str``.

        Raises:
            LocalProtocolError: the connection is not OPEN.
        """
        if self._state is not _OPEN or self._proto._outbound_opcode is not None:
            out += self.send(Message(data=data))  # type: ignore[type-var]
            return
        if isinstance(data, str):
            _append_frame(out, 1, data.encode("utf-8"), self._key(), True)
        else:
            _append_frame(out, 2, data, self._key(), True)

    def send(self, event: Event) -> bytes:
        """As wsproto's ``send``; whole messages, Pongs and ordinary Close
        frames take the fast serializer, anything else wsproto's."""
        state = self._state
        out = bytearray()
        if type(event) is Message and state is _OPEN:
            if event.message_finished and self._proto._outbound_opcode is None:
                self.append_message(out, event.data)
                return bytes(out)
        elif type(event) is Pong and state is _OPEN:
            _append_frame(out, 0xA, event.payload, self._key(), True)
            return bytes(out)
        elif type(event) is CloseConnection and (state is _OPEN or state is _REMOTE_CLOSING):
            body = _close_body(event.code, event.reason)
            if body is not None:
                _append_frame(out, 0x8, body, self._key(), True)
                self._state = _CLOSED if state is _REMOTE_CLOSING else _LOCAL_CLOSING
                return bytes(out)
        data: bytes = super().send(event)
        return data

    # -- receiving --

    def receive_data(self, data: bytes | None) -> None:
        """As wsproto's ``receive_data``: parse now, results via :meth:`items`."""
        if data is None:
            self._items.append(CloseConnection(code=CloseReason.ABNORMAL_CLOSURE))
            self._state = _CLOSED
            return
        state = self._state
        if state is _CLOSED:
            raise LocalProtocolError("Connection already closed.")
        if state is not _OPEN and state is not _LOCAL_CLOSING:
            return
        if self._stopped or not data:
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        try:
            self._parse(data)
        except _ParseFailed as exc:
            self._items.append(CloseConnection(code=exc.code, reason=str(exc)))
            self._stopped = True

    def items(self) -> list[Item]:
        """What the data received so far holds, in order, and forget it.

        A whole message is a ``str`` or ``bytes``; anything else is the
        wsproto event ``events()`` would give.
        """
        items = self._items
        if items:
            self._items = []
        return items

    def events(self) -> Generator[Event, None, None]:
        """As wsproto's ``events``: whole messages as Text/BytesMessage."""
        for item in self.items():
            if type(item) is bytes:
                yield BytesMessage(data=item)
            elif type(item) is str:
                yield TextMessage(data=item)
            else:
                yield item  # type: ignore[misc]

    def _parse(self, data: bytes | bytearray) -> None:
        items = self._items
        end = len(data)
        pos = 0
        while pos < end:
            if self._remaining:
                pos = self._take_payload(data, pos, end)
                continue
            if end - pos < 2:
                break
            b0 = data[pos]
            b1 = data[pos + 1]
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            length = b1 & 0x7F
            start = pos + 2
            # Checks in wsproto's order, with its reasons (RFC 6455 §5.2).
            if opcode not in _OPCODES:
                raise _ParseFailed(f"Invalid opcode {opcode:#x}")
            control = opcode >= 8
            if control:
                if not fin:
                    raise _ParseFailed("Invalid attempt to fragment control frame")
                if length > 125:
                    raise _ParseFailed("Control frame with payload len > 125")
            if length == 126:
                if end - start < 2:
                    break
                length = (data[start] << 8) | data[start + 1]
                start += 2
                if length <= 125:
                    raise _ParseFailed("Payload length used 2 bytes when 1 would have sufficed")
            elif length == 127:
                if end - start < 8:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
                if length <= 0xFFFF:
                    raise _ParseFailed("Payload length used 8 bytes when 2 would have sufficed")
                if length >> 63:
                    raise _ParseFailed("8-byte payload length with non-zero MSB")
            stop = start + length
            if control and stop > end:
                break  # a control frame is handled whole
            if b0 & 0x70:
                # No extension in use sets an RSV bit (the tap uses none).
                raise _ParseFailed("Reserved bit set unexpectedly")
            if b1 & 0x80:
                raise _ParseFailed("client received unexpected masked frame")
            if control:
                payload = bytes(data[start:stop])
                pos = stop
                if opcode == 9:
                    items.append(Ping(payload=payload))
                elif opcode == 10:
                    items.append(Pong(payload=payload))
                else:
                    self._on_close(payload)
                    return
                continue
            # A data frame: fail a message that announces more than the
            # bound before buffering any of it (RFC 6455 §7.4.1, 1009).
            if self._size + length > self._max:
                raise _ParseFailed("message too big", CloseReason.MESSAGE_TOO_BIG)
            if opcode:
                if self._msg_opcode:
                    raise _ParseFailed(f"expected CONTINUATION, got {_OPCODES[opcode]!r}")
                if fin and stop <= end:
                    # The common case: a whole message in one frame, all here.
                    pos = stop
                    payload = bytes(data[start:stop])
                    if opcode == 1:
                        try:
                            items.append(payload.decode("utf-8"))
                        except UnicodeDecodeError as exc:
                            raise _ParseFailed(
                                str(exc), CloseReason.INVALID_FRAME_PAYLOAD_DATA
                            ) from None
                    else:
                        items.append(payload)
                    continue
                self._msg_opcode = opcode
                if opcode == 1:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
            elif not self._msg_opcode:
                raise _ParseFailed("unexpected CONTINUATION")
            self._frame_fin = bool(fin)
            self._remaining = length
            pos = start
            if not length:
                self._piece(b"", True)
        if pos < end:
            self._pending = bytes(data[pos:])

    def _take_payload(self, data: bytes | bytearray, pos: int, end: int) -> int:
        """Consume payload of the current data frame; return the new position."""
        take = min(self._remaining, end - pos)
        if pos == 0 and take == end and type(data) is bytes:
            piece = data
        else:
            piece = bytes(data[pos : pos + take])
        self._remaining -= take
        self._piece(piece, not self._remaining)
        return pos + take

    def _piece(self, piece: bytes, frame_done: bool) -> None:
        """A piece of the current message's payload arrived."""
        message_done = frame_done and self._frame_fin
        decoder = self._decoder
        text: str | None = None
        if decoder is not None:
            try:
                text = decoder.decode(piece, message_done)
            except UnicodeDecodeError as exc:
                raise _ParseFailed(str(exc), CloseReason.INVALID_FRAME_PAYLOAD_DATA) from None
        parts = self._parts
        parts.append(text if text is not None else piece)  # type: ignore[arg-type]
        self._size += len(piece)
        if message_done:
            whole = "".join(parts) if decoder is not None else b"".join(parts)  # type: ignore[arg-type]
            parts.clear()
            self._items.append(whole)
            self._msg_opcode = 0
            self._decoder = None
            self._size = 0

    def _on_close(self, payload: bytes) -> None:
        # The tap records the raw code and reason (it looks at Close frames only).
        decoder = self._proto._frame_decoder
        for tap in self._taps:
            tap.frame_inbound_header(decoder, Opcode.CLOSE, _NO_RSV, len(payload))
            tap.frame_inbound_payload_data(decoder, payload)
        code: int
        if not payload:
            code, reason = CloseReason.NO_STATUS_RCVD, ""
        elif len(payload) == 1:
            raise _ParseFailed("CLOSE with 1 byte payload")
        else:
            code = (payload[0] << 8) | payload[1]
            if code < 1000 or code > 4999:
                raise _ParseFailed("CLOSE with invalid code")
            with suppress(ValueError):
                code = CloseReason(code)
            if code in (1005, 1006, 1015):
                raise _ParseFailed("remote CLOSE with local-only reason")
            if not isinstance(code, CloseReason) and code <= 2999:
                raise _ParseFailed("CLOSE with unknown reserved code")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _ParseFailed(
                    "Error decoding CLOSE reason: " + str(exc),
                    CloseReason.INVALID_FRAME_PAYLOAD_DATA,
                ) from None
        self._state = _CLOSED if self._state is _LOCAL_CLOSING else _REMOTE_CLOSING
        self._stopped = True
        self._items.append(CloseConnection(code=code, reason=reason))
