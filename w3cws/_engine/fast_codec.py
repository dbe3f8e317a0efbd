"""Our own frame codec, with or without permessage-deflate.

wsproto's ``Connection`` spends most of a small message's time outside the
wire format: an event object per frame, a generator per parse step,
extension hooks that copy every payload, and an ``os.urandom(4)`` system
call per frame sent. :class:`FastCodec` does the frame work itself, with
the behaviour of the wsproto codec (same bytes on the wire for the same
masking key, same messages, same failures with the same codes and reasons,
in the same order of checks; ``tests/engine/test_codecs_agree.py`` holds it
to that):

- **sending**: a frame is serialized into a caller's ``bytearray``
  (:meth:`FastCodec.append_message`), so a batch of queued messages becomes
  one buffer and one write. Small payloads are masked with one big-integer
  XOR, large ones with four strided ``bytes.translate`` passes (the fastest
  pure-Python mask: about 2 ns a byte), or, when numpy is installed (the
  ``speedups`` extra), with one 64-bit XOR pass in C (about 0.04 ns a
  byte). Masking keys come from
  ``os.urandom`` in blocks of 64 keys: each frame still gets a fresh,
  unpredictable key from the OS CSPRNG (RFC 6455 §5.3).
- **receiving**: frames are parsed straight from the bytes read, by index.
  A message in one frame that arrived whole is decoded in one step; a
  message in pieces goes through the shared
  :class:`~w3cws._engine.codec.MessageAssembler`. A message that announces
  more than ``max_message_size`` bytes fails with 1009 before any of it is
  buffered.
- **permessage-deflate** (RFC 7692), when negotiated: each message sent is
  compressed into one frame with RSV1 set; a message received with RSV1 is
  inflated as its pieces arrive, never past ``max_message_size`` (a
  decompression bomb fails with 1009 as soon as it inflates beyond it, with
  at most one inflated piece more in memory).
"""

from __future__ import annotations

import codecs
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from w3cws._close_codes import InvalidCloseFrame, close_payload, parse_close_payload
from w3cws._engine import limits
from w3cws._engine.codec import (
    BAD_UTF8_TEXT,
    MASKED_FRAME,
    MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
    RESERVED_BIT,
    UNEXPECTED_CONTINUATION,
    UNFINISHED_MESSAGE,
    UNKNOWN_OPCODE,
    CloseReceived,
    DeflateParameters,
    Inbound,
    MessageAssembler,
    PingReceived,
    ProtocolFailure,
)

__all__ = ["FastCodec", "mask", "serialize_frame"]

# One translation table per key byte: table[k][b] == b ^ k.
_XOR_TABLES = [bytes(b ^ k for b in range(256)) for k in range(256)]

# Payloads up to this size are masked with one integer XOR; larger ones with
# four strided translate passes (faster from about 1-2 KiB on).
_SMALL_MASK = 1024

_KEY_BLOCK = 256  # bytes of masking keys fetched from the OS at once (64 keys)

# RFC 6455 §5.2 opcodes: continuation, text, binary, close, ping, pong.
_OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})

# numpy, when installed (the ``speedups`` extra), masks payloads of this
# size and more. It is imported on the first such frame, not at start-up: its
# import takes about 0.1 s, which a program that sends no large frame should
# not pay.
_NUMPY_MASK = 4096
_numpy: Any = None
_numpy_tried = False

# RFC 7692 §7.2.1-2: the end of a flushed DEFLATE block, which a sender
# removes from each message and a receiver appends again.
_TAIL = b"\x00\x00\xff\xff"

# Inflated data is produced in pieces of at most this size, so that a
# message is checked against the size limit as it grows.
_INFLATE_PIECE = 1024 * 1024

_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


class _Failed(Exception):
    """A protocol error found while parsing: fail with this code and reason."""

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def mask(payload: bytes | bytearray | memoryview, key: bytes) -> bytes | bytearray:
    """``payload`` XOR the 4-byte ``key`` repeated (RFC 6455 §5.3), as a new object."""
    n = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
    if n <= _SMALL_MASK:
        keys = (key * ((n >> 2) + 1))[:n]
        return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
            n, "little"
        )
    out = bytearray(payload)
    with memoryview(out) as view:
        _mask_into(out, 0, view, key)
    return out


def _numpy_loaded() -> bool:
    """Import numpy the first time it could serve; whether it is there."""
    global _numpy, _numpy_tried  # noqa: PLW0603 - imported once, on first use
    if not _numpy_tried:
        _numpy_tried = True
        try:
            import numpy
        except ImportError:
            return False
        _numpy = numpy
    return _numpy is not None


def _mask_into_pure(out: bytearray, start: int, piece: memoryview, key: bytes) -> None:
    """``out[start:start + len(piece)]`` = ``piece`` masked with ``key``, in pure Python."""
    n = piece.nbytes
    end = start + n
    out[start:end] = piece
    tables = _XOR_TABLES
    # An empty extended slice would count as a deletion, which resizes.
    for lane in range(min(4, n)):
        index = start + lane
        out[index:end:4] = out[index:end:4].translate(tables[key[lane]])


def _mask_into_numpy(out: bytearray, start: int, piece: memoryview, key: bytes) -> None:
    """As :func:`_mask_into_pure`: 8 bytes at a time with numpy, the rest by hand."""
    n = piece.nbytes
    words = n >> 3
    source = _numpy.frombuffer(piece, dtype=_numpy.uint64, count=words)
    target = _numpy.frombuffer(out, dtype=_numpy.uint64, count=words, offset=start)
    _numpy.bitwise_xor(source, _numpy.frombuffer(key * 2, dtype=_numpy.uint64)[0], out=target)
    del source, target  # release the buffers
    for index in range(words << 3, n):
        out[start + index] = piece[index] ^ key[index & 3]


def _mask_into(out: bytearray, start: int, piece: memoryview, key: bytes) -> None:
    """Mask ``piece`` into ``out`` from ``start`` on (RFC 6455 §5.3), without resizing ``out``.

    ``piece`` may be a view of that very part of ``out``: then it is masked in place.
    """
    if piece.nbytes >= _NUMPY_MASK and _numpy_loaded():
        _mask_into_numpy(out, start, piece, key)
    else:
        _mask_into_pure(out, start, piece, key)


def _header(first: int, n: int) -> bytes:
    """A client frame's first bytes up to the masking key (RFC 6455 §5.2)."""
    if n < 126:
        return bytes((first, 0x80 | n))
    if n < 0x10000:
        return _pack_short(first, 0xFE, n)
    return _pack_long(first, 0xFF, n)


def _append_frame(
    out: bytearray, opcode: int, payload: bytes | bytearray | memoryview, key: bytes, fin: bool
) -> None:
    """Append one masked client frame to ``out`` (RFC 6455 §5.2); ``opcode`` may carry RSV1."""
    n = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
    out += _header(opcode | 0x80 if fin else opcode, n)
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
        with memoryview(out) as view, view[start:] as appended:
            _mask_into(out, start, appended, key)


def serialize_frame(
    opcode: int, payload: bytes | bytearray | memoryview, key: bytes, fin: bool = True
) -> bytearray:
    """One masked client frame with masking key ``key``."""
    out = bytearray()
    _append_frame(out, opcode, payload, key, fin)
    return out


class FastCodec:
    """The frame codec of a client connection.

    Args:
        max_message_size: a message of more bytes (announced, or inflated
            with permessage-deflate) fails the connection with 1009.
        deflate: the negotiated permessage-deflate parameters, if any.
        urandom: the source of masking keys (tests pass a fixed one).
    """

    feed_size = limits.RECEIVE_SIZE

    def __init__(
        self,
        max_message_size: int = limits.MAX_MESSAGE_SIZE,
        deflate: DeflateParameters | None = None,
        *,
        urandom: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._max = max_message_size
        self._urandom = urandom
        self._deflate = deflate
        if deflate is not None:
            # Fed in small slices, one call returns at most a few MiB of
            # messages (DEFLATE expands about 1000:1 at most), which the
            # connection dispatches and drops before the next: their memory
            # is reused instead of fresh.
            self.feed_size = limits.DEFLATE_FEED_SIZE
            self._compressor = self._new_compressor()
            self._inflater = zlib.decompressobj(-deflate.server_max_window_bits)
        # Whether the last data message begun was compressed (RFC 7692 §6).
        self._compressed = False
        self._keys = b""
        self._key_pos = 0
        # Where large messages are masked, made on the first one.
        self._scratch: bytearray | None = None
        self._items: list[Inbound] = []
        self._pending = b""  # an incomplete frame header or control frame
        self._stopped = False  # after a Close frame or a protocol error
        # The data frame being received: payload bytes still to come.
        self._remaining = 0
        self._frame_fin = False
        # The message being received: its opcode (1 or 2, 0 for none), its
        # size so far in bytes, its UTF-8 decoder (text) and its pieces.
        self._msg_opcode = 0
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        self._assembler = MessageAssembler()

    # -- sending --

    def _key(self) -> bytes:
        pos = self._key_pos
        if pos >= len(self._keys):
            self._keys = self._urandom(_KEY_BLOCK)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos : pos + 4]

    def _new_compressor(self) -> zlib._Compress:
        """A raw DEFLATE compressor within the window the server allows (RFC 7692 §7.1.2.2)."""
        assert self._deflate is not None
        return zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._deflate.client_max_window_bits
        )

    def _compress(self, payload: bytes | memoryview) -> bytes:
        """One message's payload compressed (RFC 7692 §7.2.1), without the tail."""
        compressor = self._compressor
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert self._deflate is not None
        if self._deflate.client_no_context_takeover:
            # RFC 7692 §7.1.1.2: the next message starts with an empty window.
            self._compressor = self._new_compressor()
        return data[:-4]

    def append_message(self, out: bytearray, data: str | bytes | memoryview) -> None:
        """Append ``data`` as one frame to ``out``: text for ``str``, else binary."""
        if self._deflate is not None:
            # RFC 7692 §6: compressed, and RSV1 says so.
            if isinstance(data, str):
                _append_frame(out, 0x41, self._compress(data.encode("utf-8")), self._key(), True)
            else:
                _append_frame(out, 0x42, self._compress(data), self._key(), True)
        elif isinstance(data, str):
            _append_frame(out, 1, data.encode("utf-8"), self._key(), True)
        else:
            _append_frame(out, 2, data, self._key(), True)

    def message_pieces(self, data: str | bytes | memoryview) -> Iterator[bytes | memoryview]:
        """``data`` as one frame, in pieces to write in order (a large message).

        The payload is masked a piece at a time into one buffer the codec
        keeps, so a large message costs no allocation of its size: fresh
        memory of a megabyte costs more (page faults) than masking it. A
        piece is valid until the next one is taken. With permessage-deflate
        the payload is compressed first, whole.
        """
        payload = data.encode("utf-8") if isinstance(data, str) else data
        first = 0x81 if isinstance(data, str) else 0x82
        if self._deflate is not None:
            payload = self._compress(payload)
            first |= 0x40  # RFC 7692 §6: RSV1, compressed
        key = self._key()
        with memoryview(payload) as view, view.cast("B") as octets:
            n = octets.nbytes
            yield _header(first, n) + key
            scratch = self._scratch
            if scratch is None:
                scratch = self._scratch = bytearray(limits.WRITE_PIECE_SIZE)
            step = len(scratch)  # a multiple of 4: each piece starts at key byte 0
            for start in range(0, n, step):
                piece = octets[start : start + step]
                _mask_into(scratch, 0, piece, key)
                with memoryview(scratch) as out:
                    yield out[: piece.nbytes]

    def pong(self, payload: bytes) -> bytes:
        """A Pong frame echoing a Ping's ``payload`` (RFC 6455 §5.5.3)."""
        out = bytearray()
        _append_frame(out, 0xA, payload, self._key(), True)
        return bytes(out)

    def close(self, code: int | None, reason: str) -> bytes:
        """A Close frame (RFC 6455 §5.5.1); an empty body for ``code`` None."""
        out = bytearray()
        _append_frame(out, 0x8, close_payload(code, reason), self._key(), True)
        return bytes(out)

    # -- receiving --

    def receive(self, data: bytes | bytearray) -> list[Inbound]:
        """Parse ``data``; whole messages and events, in order."""
        if self._stopped or not data:
            return []
        if self._pending:
            data = self._pending + data
            self._pending = b""
        try:
            self._parse(data)
        except _Failed as exc:
            self._items.append(ProtocolFailure(exc.code, exc.reason))
            self._stopped = True
        items = self._items
        self._items = []
        return items

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
            # RFC 6455 §5.2, checked in the wsproto codec's order so that
            # both codecs report the same first error.
            if opcode not in _OPCODES:
                raise _Failed(UNKNOWN_OPCODE)
            control = opcode >= 8
            if control:
                # §5.5: control frames are not fragmented, 125 bytes at most.
                if not fin or length > 125:
                    raise _Failed(PROTOCOL_ERROR)
            elif length == 126:
                if end - start < 2:
                    break
                length = (data[start] << 8) | data[start + 1]
                start += 2
                if length <= 125:
                    raise _Failed(PROTOCOL_ERROR)  # §5.2: the minimal length encoding
            elif length == 127:
                if end - start < 8:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
                if length <= 0xFFFF or length >> 63:
                    raise _Failed(PROTOCOL_ERROR)
            if b0 & 0x70:
                self._reserved_bits(b0, opcode, length)
                # A compressed message begins (RFC 7692 §6): the checks
                # below, then, when it is all here, inflated at once.
                compressed = True
                if b1 & 0x80:
                    raise _Failed(MASKED_FRAME)
                stop = start + length
                if self._msg_opcode:
                    self._unfinished(data, start, end, length, fin)
                    break  # it failed, or waits for its payload
                if fin and stop <= end:
                    pos = stop
                    self._compressed = True
                    items.append(self._inflate_message(opcode, bytes(data[start:stop])))
                    continue
            else:
                compressed = False
                if not control:
                    # Fail a message that announces more than the bound
                    # before buffering any of it (RFC 6455 §7.4.1, 1009); a
                    # compressed one is measured as it inflates.
                    size = self._size if not opcode else 0
                    if size + length > self._max and (opcode or not self._compressed):
                        raise _Failed(MESSAGE_TOO_BIG, 1009)
            if b1 & 0x80:
                raise _Failed(MASKED_FRAME)  # §5.1: a server never masks
            stop = start + length
            if control:
                if stop > end:
                    break  # a control frame is handled whole
                payload = bytes(data[start:stop])
                pos = stop
                if opcode == 9:
                    items.append(PingReceived(payload, self.pong(payload)))
                elif opcode == 8:
                    self._on_close(payload)
                    return
                continue  # a Pong: nothing to do (WS §5)
            if opcode:
                if self._msg_opcode:
                    self._unfinished(data, start, end, length, fin)
                    break  # it failed, or waits for its payload
                self._compressed = compressed
                if fin and stop <= end:
                    # The common case: a whole message in one frame, all here.
                    pos = stop
                    payload = bytes(data[start:stop])
                    if opcode == 1:
                        try:
                            items.append(payload.decode("utf-8"))
                        except UnicodeDecodeError:
                            raise _Failed(BAD_UTF8_TEXT, 1007) from None
                    else:
                        items.append(payload)
                    continue
                self._msg_opcode = opcode
                self._size = 0
                if opcode == 1:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
            elif not self._msg_opcode:
                raise _Failed(UNEXPECTED_CONTINUATION)  # §5.4
            self._frame_fin = bool(fin)
            self._remaining = length
            pos = start
            if not length:
                self._piece(b"", True)
        if pos < end:
            self._pending = bytes(data[pos:])

    def _reserved_bits(self, b0: int, opcode: int, length: int) -> None:
        """Check a frame with RSV bits set: fail unless it begins a compressed message.

        In the wsproto codec's order: RSV1 belongs to permessage-deflate, on
        the first frame of a data message only (RFC 7692 §6.1); then the
        size check of an uncompressed message; then any other RSV bit, which
        no extension uses (RFC 6455 §5.2).
        """
        compressed = False
        if b0 & 0x40 and self._deflate is not None:
            if opcode >= 8 or not opcode:
                raise _Failed(PROTOCOL_ERROR)
            compressed = True
        if opcode < 8:
            size = self._size if not opcode else 0
            if size + length > self._max and not (compressed if opcode else self._compressed):
                raise _Failed(MESSAGE_TOO_BIG, 1009)
        if not compressed or b0 & 0x30:
            raise _Failed(RESERVED_BIT)

    def _unfinished(
        self, data: bytes | bytearray, start: int, end: int, length: int, fin: int
    ) -> None:
        """A data message begins while another is unfinished (RFC 6455 §5.4): fail.

        When the unfinished message is compressed, the wsproto codec inflates
        the new frame's first payload bytes in that message's stream before
        it checks the order (its deflate layer sits below the message layer),
        and may fail that way first: so does this codec. Returns, without
        failing, only while none of that payload has arrived.
        """
        if self._compressed:
            available = min(length, end - start)
            if length and not available:
                return
            self._size = 0
            self._inflate(bytes(data[start : start + available]), bool(fin) and available == length)
        raise _Failed(UNFINISHED_MESSAGE)

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

    def _inflate(self, data: bytes, last: bool) -> list[bytes]:
        """A compressed message's next payload bytes, inflated (RFC 7692 §7.2.2).

        Inflates no further than the message's room under the size limit:
        past it, the connection fails with 1009 without inflating the rest.
        The output comes in pieces of at most 1 MiB, so that a bomb is
        refused with at most one piece more than the limit in memory.
        """
        inflater = self._inflater
        room = self._max - self._size
        pieces: list[bytes] = []
        if last:
            data += _TAIL
        try:
            while True:
                bound = min(room + 1, _INFLATE_PIECE)
                piece = inflater.decompress(data, bound)
                room -= len(piece)
                if room < 0:
                    raise _Failed(MESSAGE_TOO_BIG, 1009)
                pieces.append(piece)
                if len(piece) < bound:
                    break
                data = inflater.unconsumed_tail
        except zlib.error:
            raise _Failed(PROTOCOL_ERROR, 1007) from None
        assert self._deflate is not None
        if last:
            if self._deflate.server_no_context_takeover:
                # RFC 7692 §7.1.1.1: the next message starts with an empty window.
                self._inflater = zlib.decompressobj(-self._deflate.server_max_window_bits)
            elif inflater.eof:
                # A block with BFINAL set ended the stream (RFC 7692 §7.2.3.3).
                # Ending the inflater too fails the next compressed message,
                # as in the wsproto codec.
                inflater.flush()
        return pieces

    def _inflate_message(self, opcode: int, payload: bytes) -> str | bytes:
        """A whole compressed message, inflated (and decoded, for text)."""
        pieces = self._inflate(payload, True)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if opcode == 2:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Failed(BAD_UTF8_TEXT, 1007) from None

    def _piece(self, piece: bytes, frame_done: bool) -> None:
        """A piece of the current message's payload arrived."""
        last = frame_done and self._frame_fin
        if self._compressed:
            pieces = self._inflate(piece, last)
            piece = pieces.pop()
            if pieces:
                self._add_first(pieces)
        self._size += len(piece)
        decoder = self._decoder
        whole: str | bytes | None
        if decoder is not None:
            try:
                text = decoder.decode(piece, last)
            except UnicodeDecodeError:
                raise _Failed(BAD_UTF8_TEXT, 1007) from None
            whole = self._assembler.add(text, last)
        else:
            whole = self._assembler.add(piece, last)
        if whole is not None:
            self._items.append(whole)
            self._msg_opcode = 0
            self._decoder = None
            self._size = 0

    def _add_first(self, pieces: list[bytes]) -> None:
        """Inflated pieces of the current message that are not its last (past 1 MiB)."""
        decoder = self._decoder
        for piece in pieces:
            self._size += len(piece)
            if decoder is not None:
                try:
                    self._assembler.add(decoder.decode(piece), False)
                except UnicodeDecodeError:
                    raise _Failed(BAD_UTF8_TEXT, 1007) from None
            else:
                self._assembler.add(piece, False)

    def _on_close(self, payload: bytes) -> None:
        self._stopped = True
        try:
            code, reason = parse_close_payload(payload)
        except InvalidCloseFrame as exc:
            raise _Failed(exc.reason, exc.code) from None
        self._items.append(CloseReceived(code, reason))
