"""Our fast codec against the wsproto codec: same bytes out, same items in.

wsproto is the reference for the wire format. Hypothesis generates server
frame streams over every opcode (the reserved ones too), fragmentation with
control frames in between, RSV bits, masking, every length encoding, Close
payloads (valid, reserved and invalid codes, bad UTF-8, one byte), text that
is and is not UTF-8, and cuts the stream at arbitrary points: both codecs
must hand out the same messages and events, and fail with the same code and
reason. The other way, the same operations must give the same bytes for the
same masking key.

With permessage-deflate (RFC 7692: each window size and context takeover
both ways), an independent compressor plays the server, its messages mixed
with plain and broken frames; what we send is also read back by a wsproto
server with ``PerMessageDeflate``.
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.extensions import PerMessageDeflate

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
    FrameCodec,
    Inbound,
    PingReceived,
    ProtocolFailure,
)
from w3cws._engine.deflate import ChromiumDeflate
from w3cws._engine.fast_codec import FastCodec
from w3cws._engine.wsproto_codec import WsprotoCodec

KEY = b"\x37\xfa\x21\x3d"


def fixed_keys(n: int) -> bytes:
    return KEY * (n // 4)


@contextmanager
def fixed_masking_keys() -> Iterator[None]:
    """Every masking key is KEY: wsproto takes its keys from os.urandom."""
    with mock.patch.object(os, "urandom", fixed_keys):
        yield


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = False,
    length: str = "minimal",
) -> bytes:
    """A frame as a server (or a broken server) sends it (RFC 6455 §5.2)."""
    n = len(payload)
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    if length == "16" or (length == "minimal" and 126 <= n < 65536):
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    elif length == "64" or (length == "minimal" and n >= 65536):
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    elif length == "msb":
        return struct.pack("!BBQ", first, mask_bit | 127, (1 << 63) | n)
    else:
        head = bytes((first, mask_bit | n))
    if masked:
        return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return head + payload


def run(codec: FrameCodec, chunks: list[bytes]) -> list[Inbound]:
    items: list[Inbound] = []
    for chunk in chunks:
        items += codec.receive(chunk)
    return items


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def both(data: bytes, cuts: list[int], max_size: int = limits.MAX_MESSAGE_SIZE) -> list[Inbound]:
    """Feed ``data`` in pieces to both codecs; their common result."""
    chunks = cut(data, cuts)
    fast = run(FastCodec(max_size), chunks)
    reference = run(WsprotoCodec(max_size), chunks)
    assert fast == reference
    # The split does not matter either.
    assert run(FastCodec(max_size), [data]) == fast
    return fast


# -- generated streams ----------------------------------------------------------

CLOSE_CODES = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1013, 1014]
CLOSE_CODES += [1015, 1016, 2999, 3000, 4999, 5000, 999, 0, 65535]

close_payloads = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.builds(
        lambda code, reason: struct.pack("!H", code) + reason,
        st.sampled_from(CLOSE_CODES),
        st.one_of(st.text(max_size=20).map(str.encode), st.binary(max_size=20)),
    ),
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A valid message, fragmented at any byte, with control frames between."""
    text = draw(st.booleans())
    payload = draw(st.text(max_size=60)).encode() if text else draw(st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    out = b""
    for i, piece in enumerate(pieces):
        opcode = (1 if text else 2) if i == 0 else 0
        out += frame(opcode, piece, fin=i == len(pieces) - 1)
        if i < len(pieces) - 1 and draw(st.booleans()):
            out += frame(draw(st.sampled_from([9, 10])), draw(st.binary(max_size=10)))
    return out


@st.composite
def any_frames(draw: st.DrawFn) -> bytes:
    """Any single frame, broken or not."""
    opcode = draw(st.one_of(st.sampled_from([0, 1, 2, 8, 9, 10]), st.integers(0, 15)))
    if opcode == 8:
        payload = draw(close_payloads)
    elif opcode in {1, 0}:
        payload = draw(st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=40)))
    else:
        payload = draw(st.one_of(st.binary(max_size=130), st.binary(min_size=65536 - 3)))
    return frame(
        opcode,
        payload,
        fin=draw(st.sampled_from([True, True, True, False])),
        rsv=draw(st.sampled_from([0, 0, 0, 0, 0, 1, 2, 4, 7])),
        masked=draw(st.sampled_from([False] * 9 + [True])),
        length=draw(st.sampled_from(["minimal"] * 8 + ["16", "64", "msb"])),
    )


streams = st.lists(st.one_of(messages(), messages(), any_frames()), max_size=10).map(b"".join)
cut_lists = st.lists(st.integers(min_value=1, max_value=70000), max_size=8)


@settings(max_examples=400, deadline=None)
@given(streams, cut_lists, st.sampled_from([limits.MAX_MESSAGE_SIZE, 50]))
def test_codecs_agree_on_generated_streams(data: bytes, cuts: list[int], max_size: int) -> None:
    items = both(data, cuts, max_size)
    # At most one final item, and it is the last one.
    final = [i for i in items if isinstance(i, CloseReceived | ProtocolFailure)]
    assert final == items[len(items) - len(final) :]
    assert len(final) <= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(messages(), max_size=8).map(b"".join), cut_lists)
def test_valid_messages_arrive_whole(data: bytes, cuts: list[int]) -> None:
    items = both(data, cuts)
    assert not [i for i in items if isinstance(i, ProtocolFailure)]


# -- each failure, with Chromium's reason ------------------------------------------

OK = frame(2, b"ok")
BAD = {
    "masked": (frame(2, b"\x00", masked=True), 1002, MASKED_FRAME),
    "rsv1": (frame(2, b"x", rsv=4), 1002, RESERVED_BIT),
    "rsv3": (frame(2, b"x", rsv=1), 1002, RESERVED_BIT),
    "rsv on ping": (frame(9, b"", rsv=2), 1002, RESERVED_BIT),
    "reserved data opcode": (frame(3, b""), 1002, UNKNOWN_OPCODE),
    "reserved control opcode": (frame(0xB, b""), 1002, UNKNOWN_OPCODE),
    "fragmented control": (frame(9, b"", fin=False), 1002, PROTOCOL_ERROR),
    "long control": (frame(9, b"x" * 126), 1002, PROTOCOL_ERROR),
    "continuation first": (frame(0, b"x"), 1002, UNEXPECTED_CONTINUATION),
    "no continuation": (frame(2, b"a", fin=False) + frame(1, b"b"), 1002, UNFINISHED_MESSAGE),
    "empty frame, no continuation": (
        frame(2, b"a", fin=False) + frame(2, b""),
        1002,
        UNFINISHED_MESSAGE,
    ),
    "long 16-bit length": (frame(2, b"hello", length="16"), 1002, PROTOCOL_ERROR),
    "long 64-bit length": (frame(2, b"x" * 100, length="64"), 1002, PROTOCOL_ERROR),
    "msb 64-bit length": (frame(2, b"", length="msb"), 1002, PROTOCOL_ERROR),
    "bad utf-8": (frame(1, b"\xc3\x28"), 1007, BAD_UTF8_TEXT),
    "bad utf-8 split": (frame(1, b"\xff", fin=False) + frame(0, b"a"), 1007, BAD_UTF8_TEXT),
    "utf-8 cut short": (frame(1, b"\xe2\x9c"), 1007, BAD_UTF8_TEXT),
    "close 1 byte": (frame(8, b"\x03"), 1002, ""),
    "close 999": (frame(8, struct.pack("!H", 999)), 1002, ""),
    "close 1004": (frame(8, struct.pack("!H", 1004)), 1002, ""),
    "close 1005": (frame(8, struct.pack("!H", 1005)), 1002, ""),
    "close 1015": (frame(8, struct.pack("!H", 1015)), 1002, ""),
    "close 2999": (frame(8, struct.pack("!H", 2999)), 1002, ""),
    "close 5000": (frame(8, struct.pack("!H", 5000)), 1002, ""),
    "close bad reason": (frame(8, b"\x03\xe8\xc3\x28"), 1007, "Invalid UTF-8 in Close frame"),
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_each_failure(name: str, step: int) -> None:
    bad, code, reason = BAD[name]
    data = OK + bad + frame(2, b"z")
    items = both(data, list(range(step, len(data), step)))
    assert items == [b"ok", ProtocolFailure(code, reason)]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", CloseReceived(1005, "")),
        (struct.pack("!H", 1000), CloseReceived(1000, "")),
        (struct.pack("!H", 1014) + b"gw", CloseReceived(1014, "gw")),
        (struct.pack("!H", 4999) + "é".encode(), CloseReceived(4999, "é")),
        (struct.pack("!H", 3000) + b"x" * 123, CloseReceived(3000, "x" * 123)),
    ],
)
def test_valid_closes(payload: bytes, expected: CloseReceived) -> None:
    assert both(frame(8, payload) + OK, [1]) == [expected]


def test_too_big() -> None:
    data = frame(2, b"x" * 50) + frame(2, b"y" * 51)
    assert both(data, [3], max_size=50) == [b"x" * 50, ProtocolFailure(1009, MESSAGE_TOO_BIG)]
    # A stray continuation after a message of the maximum size is what it is.
    data = frame(2, b"x" * 50) + frame(0, b"y")
    assert both(data, [], max_size=50) == [
        b"x" * 50,
        ProtocolFailure(1002, "Unexpected continuation"),
    ]


def test_pings_are_reported_and_pongs_are_not() -> None:
    assert both(frame(9, b"a") + frame(10, b"b"), [1]) == [PingReceived(b"a")]


# -- the other direction: same bytes ----------------------------------------------

operations = st.one_of(
    st.tuples(st.just("message"), st.one_of(st.text(max_size=200), st.binary(max_size=70000))),
    st.tuples(st.just("view"), st.binary(max_size=300)),
    st.tuples(st.just("pong"), st.binary(max_size=125)),
)
outgoing = st.lists(operations, max_size=8)
closes = st.one_of(
    st.just((None, "")),
    st.tuples(st.sampled_from([1000, 1001, 1002, 1007, 1009, 1014, 3000, 4999]), st.text()),
)


def written(codec: FrameCodec, ops: list[tuple[str, Any]], close: tuple[int | None, str]) -> bytes:
    """What ``codec`` writes for ``ops`` (messages, views, pieces, pongs), then a Close."""
    out = bytearray()
    for kind, value in ops:
        if kind == "message":
            codec.append_message(out, value)
        elif kind == "view":
            codec.append_message(out, memoryview(value))
        elif kind == "pieces":
            for piece in codec.message_pieces(value):
                out += piece
        else:
            out += codec.pong(value)
    out += codec.close(*close)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(outgoing, closes)
def test_same_bytes_out(ops: list[tuple[str, Any]], close: tuple[int | None, str]) -> None:
    with fixed_masking_keys():
        fast = FastCodec(urandom=fixed_keys)
        reference = WsprotoCodec()
        outputs = [written(codec, ops, close) for codec in (fast, reference)]
    assert outputs[0] == outputs[1]
    # And a server reads them as meant.
    server = Connection(ConnectionType.SERVER)
    server.receive_data(outputs[0])
    assert len(list(server.events())) >= len(ops) + 1


# -- permessage-deflate (RFC 7692) ---------------------------------------------------

parameter_sets = st.builds(
    DeflateParameters,
    client_max_window_bits=st.integers(9, 15),
    server_max_window_bits=st.integers(9, 15),
    client_no_context_takeover=st.booleans(),
    server_no_context_takeover=st.booleans(),
)


def response(parameters: DeflateParameters) -> str:
    """The Sec-WebSocket-Extensions element a server accepts ``parameters`` with."""
    element = (
        f"permessage-deflate; client_max_window_bits={parameters.client_max_window_bits}"
        f"; server_max_window_bits={parameters.server_max_window_bits}"
    )
    if parameters.client_no_context_takeover:
        element += "; client_no_context_takeover"
    if parameters.server_no_context_takeover:
        element += "; server_no_context_takeover"
    return element


def negotiated(parameters: DeflateParameters) -> ChromiumDeflate:
    """The wsproto codec's extension, configured as the handshake does it."""
    deflate = ChromiumDeflate()
    assert deflate.accept_response(response(parameters)) is None
    assert deflate.parameters() == parameters
    return deflate


def both_deflate(
    data: bytes,
    cuts: list[int],
    parameters: DeflateParameters,
    max_size: int = limits.MAX_MESSAGE_SIZE,
) -> list[Inbound]:
    """Feed ``data`` in pieces to both codecs with permessage-deflate; their common result."""
    chunks = cut(data, cuts)
    fast = run(FastCodec(max_size, parameters), chunks)
    reference = run(WsprotoCodec(max_size, negotiated(parameters)), chunks)
    assert fast == reference
    assert run(FastCodec(max_size, parameters), [data]) == fast
    return fast


class Server:
    """A server's compressor (RFC 7692 §7.2.1), independent of both codecs."""

    def __init__(self, parameters: DeflateParameters, level: int) -> None:
        self.parameters = parameters
        self.level = level
        self.compressor = self.new()

    def new(self) -> Any:
        return zlib.compressobj(self.level, zlib.DEFLATED, -self.parameters.server_max_window_bits)

    def compress(self, payload: bytes) -> bytes:
        data = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        if self.parameters.server_no_context_takeover:
            self.compressor = self.new()
        return data[:-4]


@st.composite
def deflate_message(draw: st.DrawFn, server: Server) -> bytes:
    """A valid message, compressed or not, fragmented at any byte, control frames between."""
    text = draw(st.booleans())
    if text:
        payload = draw(st.one_of(st.text(max_size=60), st.text('ab{}":', max_size=400))).encode()
    else:
        repeated = st.binary(max_size=20).map(lambda b: b * 50)
        payload = draw(st.one_of(st.binary(max_size=300), repeated))
    compressed = draw(st.sampled_from([True, True, True, False]))
    if compressed:
        payload = server.compress(payload)
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    out = b""
    for i, piece in enumerate(pieces):
        opcode = (1 if text else 2) if i == 0 else 0
        rsv = 4 if compressed and i == 0 else 0  # RFC 7692 §6.1: RSV1 on the first frame
        out += frame(opcode, piece, fin=i == len(pieces) - 1, rsv=rsv)
        if i < len(pieces) - 1 and draw(st.booleans()):
            out += frame(draw(st.sampled_from([9, 10])), draw(st.binary(max_size=10)))
    return out


@st.composite
def deflate_streams(draw: st.DrawFn, broken: bool) -> tuple[DeflateParameters, bytes]:
    """Negotiated parameters and what a server sends with them (some of it broken)."""
    parameters = draw(parameter_sets)
    server = Server(parameters, draw(st.sampled_from([-1, 0, 1, 9])))
    parts = [deflate_message(server)]
    if broken:
        parts.append(any_frames())
    data = b"".join(draw(st.lists(st.one_of(*parts), max_size=8)))
    return parameters, data


@settings(max_examples=300, deadline=None)
@given(deflate_streams(broken=False), cut_lists, st.sampled_from([limits.MAX_MESSAGE_SIZE, 300]))
def test_codecs_agree_on_compressed_messages(
    stream: tuple[DeflateParameters, bytes], cuts: list[int], max_size: int
) -> None:
    parameters, data = stream
    items = both_deflate(data, cuts, parameters, max_size)
    if max_size == limits.MAX_MESSAGE_SIZE:
        assert not [i for i in items if isinstance(i, ProtocolFailure)]


@settings(max_examples=300, deadline=None)
@given(deflate_streams(broken=True), cut_lists, st.sampled_from([limits.MAX_MESSAGE_SIZE, 50]))
def test_codecs_agree_on_broken_compressed_streams(
    stream: tuple[DeflateParameters, bytes], cuts: list[int], max_size: int
) -> None:
    parameters, data = stream
    items = both_deflate(data, cuts, parameters, max_size)
    final = [i for i in items if isinstance(i, CloseReceived | ProtocolFailure)]
    assert final == items[len(items) - len(final) :]
    assert len(final) <= 1


def events_as_messages(events: list[Any]) -> list[str | bytes]:
    """A wsproto server's message events, joined into whole messages."""
    messages: list[str | bytes] = []
    pieces: list[Any] = []
    for event in events:
        if isinstance(event, TextMessage | BytesMessage):
            pieces.append(event.data)
            if event.message_finished:
                text = isinstance(event, TextMessage)
                messages.append("".join(pieces) if text else b"".join(pieces))
                pieces = []
    return messages


compressed_outgoing = st.lists(
    st.one_of(
        operations,
        st.tuples(st.just("pieces"), st.one_of(st.text(max_size=300), st.binary(max_size=300))),
        st.tuples(
            st.just("pieces"),
            st.binary(min_size=1, max_size=64).map(lambda b: b * (200_000 // len(b))),
        ),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(parameter_sets, compressed_outgoing, closes)
def test_same_compressed_bytes_out(
    parameters: DeflateParameters, ops: list[tuple[str, Any]], close: tuple[int | None, str]
) -> None:
    with fixed_masking_keys():
        fast = FastCodec(deflate=parameters, urandom=fixed_keys)
        reference = WsprotoCodec(deflate=negotiated(parameters))
        outputs = [written(codec, ops, close) for codec in (fast, reference)]
    assert outputs[0] == outputs[1]
    # An independent server, with the parameters it accepted, reads the messages back.
    extension = PerMessageDeflate()
    assert extension.accept(response(parameters)) is not None
    server = Connection(ConnectionType.SERVER, [extension])
    server.receive_data(outputs[0])
    events = list(server.events())
    sent = [bytes(v) if kind == "view" else v for kind, v in ops if kind != "pong"]
    assert events_as_messages(events) == sent
    assert isinstance(events[-1], CloseConnection)


def compress(payload: bytes, bits: int = 15) -> bytes:
    """``payload`` as one compressed message's data (RFC 7692 §7.2.1)."""
    compressor = zlib.compressobj(wbits=-bits)
    return (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


HELLO = compress(b"hello")
BOMB = compress(bytes(100_000))
DEFLATE_BAD = {
    "rsv1 on a continuation": (
        frame(1, HELLO[:2], fin=False, rsv=4) + frame(0, HELLO[2:], rsv=4),
        1002,
        PROTOCOL_ERROR,
    ),
    "rsv1 on a ping": (frame(9, b"", rsv=4), 1002, PROTOCOL_ERROR),
    "rsv1 on a close": (frame(8, b"\x03\xe8", rsv=4), 1002, PROTOCOL_ERROR),
    "rsv2 on a compressed frame": (frame(1, HELLO, rsv=6), 1002, RESERVED_BIT),
    "rsv3 on a plain frame": (frame(1, b"hello", rsv=1), 1002, RESERVED_BIT),
    "not deflate": (frame(2, b"\xff\xff\xff\xff", rsv=4), 1007, PROTOCOL_ERROR),
    "bad utf-8 inflated": (frame(1, compress(b"\xc3\x28"), rsv=4), 1007, BAD_UTF8_TEXT),
    "too big inflated": (frame(2, BOMB, rsv=4), 1009, MESSAGE_TOO_BIG),
    "too big in fragments": (
        frame(2, BOMB[:10], rsv=4, fin=False) + frame(0, BOMB[10:]),
        1009,
        MESSAGE_TOO_BIG,
    ),
    # A final block (BFINAL, RFC 7692 §7.2.3.3) ends the stream: both codecs
    # fail the next compressed message.
    "after a final block": (
        frame(2, zlib.compress(b"x", wbits=-15), rsv=4) + frame(2, HELLO, rsv=4),
        1007,
        PROTOCOL_ERROR,
    ),
    # The new frame is inflated in the unfinished message's stream first.
    "new message while a compressed one is unfinished": (
        frame(2, HELLO, rsv=4, fin=False) + frame(2, b"\x07", rsv=4),
        1007,
        PROTOCOL_ERROR,
    ),
    "plain message while a compressed one is unfinished": (
        frame(2, HELLO, rsv=4, fin=False) + frame(2, b"\x07"),
        1007,
        PROTOCOL_ERROR,
    ),
    "new message inflating cleanly while a compressed one is unfinished": (
        frame(2, HELLO, rsv=4, fin=False) + frame(2, b"\xff", rsv=4),
        1002,
        UNFINISHED_MESSAGE,
    ),
}


@pytest.mark.parametrize("name", sorted(DEFLATE_BAD))
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_each_deflate_failure(name: str, step: int) -> None:
    bad, code, reason = DEFLATE_BAD[name]
    data = frame(2, compress(b"ok"), rsv=4) + bad + frame(2, b"z")
    items = both_deflate(data, list(range(step, len(data), step)), DeflateParameters(), 50_000)
    assert items[0] == b"ok"
    assert items[-1] == ProtocolFailure(code, reason)


@pytest.mark.parametrize("step", [1, 2, 1000])
def test_compressed_and_plain_messages(step: int) -> None:
    server = Server(DeflateParameters(), -1)
    empty = server.compress(b"")
    assert empty == b"\x00"  # RFC 7692 §7.2.3.6: an empty message
    again = server.compress(b"again")
    data = (
        frame(1, server.compress("héllo".encode()), rsv=4)
        + frame(2, b"plain")  # RSV1 clear: not compressed (RFC 7692 §6)
        + frame(1, empty, rsv=4)
        + frame(2, again[:1], rsv=4, fin=False)
        + frame(9, b"between")  # RFC 6455 §5.4: control frames between fragments
        + frame(0, again[1:])
    )
    items = both_deflate(data, list(range(step, len(data), step)), DeflateParameters())
    assert items == ["héllo", b"plain", "", PingReceived(b"between"), b"again"]


def client_payloads(data: bytes) -> list[tuple[int, bytes]]:
    """The first byte and unmasked payload of each client frame in ``data``."""
    frames = []
    while data:
        n = data[1] & 0x7F
        start = 2
        if n == 126:
            n, start = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, start = int.from_bytes(data[2:10], "big"), 10
        key, payload = data[start : start + 4], data[start + 4 : start + 4 + n]
        frames.append((data[0], bytes(b ^ key[i % 4] for i, b in enumerate(payload))))
        data = data[start + 4 + n :]
    return frames


@pytest.mark.parametrize("takeover", [True, False])
def test_a_server_window_of_8_bits_reads_our_messages(takeover: bool) -> None:
    """RFC 7692 §7.1.2.2 allows 8 bits: zlib's 9-bit compressor stays within them."""
    element = "permessage-deflate; client_max_window_bits=8"
    if not takeover:
        element += "; client_no_context_takeover"
    deflate = ChromiumDeflate()
    assert deflate.accept_response(element) is None
    codec = FastCodec(deflate=deflate.parameters())
    messages = [bytes(range(256)) * 8, b"abc" * 300, bytes(range(200)) + bytes(range(200))]
    out = bytearray()
    for message in messages:
        codec.append_message(out, message)
    inflater = zlib.decompressobj(-8)
    for message, (first, payload) in zip(messages, client_payloads(bytes(out)), strict=True):
        assert first == 0xC2  # FIN, RSV1, binary (RFC 7692 §6)
        if not takeover:
            inflater = zlib.decompressobj(-8)
        assert inflater.decompress(payload + b"\x00\x00\xff\xff") == message


@pytest.mark.parametrize("fragments", [1, 3])
@pytest.mark.parametrize("cuts", [[], [5000, 9000]])
def test_large_compressed_messages(fragments: int, cuts: list[int]) -> None:
    """Past 1 MiB inflated from one read: whole messages, text decoded across the pieces."""
    text = ("€€€" * 470_000).encode()  # 4.2 MB: 1 MiB pieces end within a '€'
    assert text[1 << 20] & 0xC0 == 0x80  # a continuation byte starts the second piece
    server = Server(DeflateParameters(), 6)
    payloads = [server.compress(text), server.compress(text[:-1])]
    data = b""
    for opcode, payload in zip([1, 2], payloads, strict=True):
        step = -(-len(payload) // fragments)
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)]
        for i, piece in enumerate(pieces):
            first = i == 0
            data += frame(opcode if first else 0, piece, fin=i == len(pieces) - 1, rsv=4 * first)
    items = both_deflate(data, cuts, DeflateParameters())
    assert items == [text.decode(), text[:-1]]
    assert both_deflate(data, cuts, DeflateParameters(), len(text) - 1) == [
        ProtocolFailure(1009, MESSAGE_TOO_BIG)
    ]
