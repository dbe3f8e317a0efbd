"""Our own frame codec on its own: masking, framing, limits, and the parser's states.

Its agreement with the wsproto codec is in ``test_codecs_agree.py``; here
its output is read back by a wsproto server connection (public API), an
implementation written independently of ours.
"""

from __future__ import annotations

import os
import struct
import tracemalloc
import zlib

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate

from w3cws._engine import fast_codec, limits
from w3cws._engine.codec import (
    MESSAGE_TOO_BIG,
    CloseReceived,
    DeflateParameters,
    MessageAssembler,
    PingReceived,
    ProtocolFailure,
)
from w3cws._engine.fast_codec import FastCodec, mask, serialize_frame

KEY = b"\x37\xfa\x21\x3d"
SIZES = [0, 1, 3, 4, 5, 125, 126, 127, 1023, 1024, 1025, 4097, 65535, 65536, 70001]


def fixed_keys(n: int) -> bytes:
    return KEY * (n // 4)


def naive_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def server_reads(data: bytes) -> list[object]:
    """What an independent (wsproto) server reads from our client bytes."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(data)
    return list(server.events())


@pytest.mark.parametrize("size", SIZES)
def test_mask_is_the_xor_of_rfc6455(size: int) -> None:
    data = os.urandom(size)
    expected = naive_mask(data, KEY)
    assert bytes(mask(data, KEY)) == expected
    assert bytes(mask(bytearray(data), KEY)) == expected
    assert bytes(mask(memoryview(data), KEY)) == expected
    assert bytes(mask(mask(data, KEY), KEY)) == data


@pytest.mark.parametrize("size", SIZES)
def test_frames_are_read_back_by_a_server(size: int) -> None:
    payload = os.urandom(size)
    frame = serialize_frame(2, payload, KEY)
    # RFC 6455 §5.2: the shortest length encoding, the mask bit and the key.
    head = 2 + (0 if size < 126 else 2 if size < 65536 else 8)
    assert frame[0] == 0x82
    assert frame[1] & 0x80
    assert frame[head : head + 4] == KEY
    assert bytes(frame[head + 4 :]) == naive_mask(payload, KEY)
    [event] = server_reads(bytes(frame))
    assert isinstance(event, BytesMessage)
    assert event.data == payload
    assert event.message_finished


def test_unfinished_frame_has_no_fin() -> None:
    assert serialize_frame(2, b"ab", KEY)[0] == 0x82
    assert serialize_frame(2, b"ab", KEY, fin=False)[0] == 0x02


def test_batch_is_frames_in_order_with_fresh_keys() -> None:
    codec = FastCodec()
    out = bytearray()
    messages: list[str | bytes] = [b"a" * n for n in (0, 10, 200, 3000)] + ["t" * 50, "é✓"]
    for message in messages:
        codec.append_message(out, message)
    got = [e.data for e in server_reads(bytes(out)) if isinstance(e, Message)]
    assert got == messages
    # One 4-byte key per frame, from the OS CSPRNG: no two the same here.
    keys, pos = [], 0
    while pos < len(out):
        n = out[pos + 1] & 0x7F
        head = 2 + {126: 2, 127: 8}.get(n, 0)
        keys.append(bytes(out[pos + head : pos + head + 4]))
        length = n if n < 126 else int.from_bytes(out[pos + 2 : pos + head], "big")
        pos += head + 4 + length
    assert len(set(keys)) == len(messages)


def test_pong_and_close_frames() -> None:
    codec = FastCodec(urandom=fixed_keys)
    events = server_reads(codec.pong(b"p") + codec.close(1000, "bye"))
    assert events == [Pong(payload=b"p"), CloseConnection(code=1000, reason="bye")]
    assert server_reads(codec.close(None, "")) == [CloseConnection(code=1005, reason="")]
    # A reason is cut at 123 bytes, on a character boundary.
    [close] = server_reads(codec.close(4000, "é" * 70))
    assert close == CloseConnection(code=4000, reason="é" * 61)
    with pytest.raises(ValueError, match="1005"):
        codec.close(1005, "")


def test_whole_messages_come_as_plain_items() -> None:
    frames = b"\x82\x01a\x81\x01b\x02\x01c\x80\x01d\x89\x02pi\x8a\x00"
    assert FastCodec().receive(frames) == [b"a", "b", b"cd", PingReceived(b"pi")]


def test_nothing_is_parsed_after_the_close() -> None:
    codec = FastCodec()
    close = b"\x88\x05\x03\xe8bye"
    assert codec.receive(close + b"\x82\x01z") == [CloseReceived(1000, "bye")]
    assert codec.receive(b"\x82\x01z") == []


def test_too_big_messages_fail_at_their_header() -> None:
    codec = FastCodec(max_message_size=100)
    frames = b"\x82\x64" + b"x" * 100 + b"\x82\x65" + b"y" * 101
    assert codec.receive(frames) == [b"x" * 100, ProtocolFailure(1009, MESSAGE_TOO_BIG)]
    codec = FastCodec(max_message_size=100)
    first, second = b"\x02\x3c" + b"a" * 60, b"\x80\x3c" + b"b" * 60
    assert codec.receive(first) == []  # the first fragment fits; nothing is out yet
    # The second would pass the bound: failed at its header, before its payload.
    assert codec.receive(second[:2]) == [ProtocolFailure(1009, MESSAGE_TOO_BIG)]
    codec = FastCodec(max_message_size=16)
    text = "é" * 4
    piece = text.encode()
    frames = b"\x01\x08" + piece + b"\x80\x08" + piece
    assert codec.receive(frames) == ["é" * 8]  # 16 bytes: within the bound


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100])
def test_any_split_gives_the_same_items(step: int) -> None:
    big = os.urandom(70000)
    check = "✓".encode()
    frames = (
        b"\x82\x7f"
        + struct.pack("!Q", len(big))
        + big
        + b"\x01\x03\xc3\xa9"
        + check[:1]  # a character split between two fragments
        + b"\x89\x00\x80\x02"
        + check[1:]
        + b"\x88\x02\x03\xe8"
    )
    codec = FastCodec()
    items: list[object] = []
    for start in range(0, len(frames), step):
        items += codec.receive(frames[start : start + step])
    assert items == [big, PingReceived(b""), "é✓", CloseReceived(1000, "")]


def test_assembler_joins_pieces_once() -> None:
    assembler = MessageAssembler()
    assert assembler.add(b"ab", False) is None
    assert assembler.add(bytearray(b"cd"), True) == b"abcd"
    assert assembler.add("x", False) is None
    assert assembler.add("", False) is None
    assert assembler.add("y", True) == "xy"
    assert assembler.add(bytearray(b"z"), True) == b"z"
    assert assembler.add("", True) == ""


def test_text_frames_as_the_server_reads_them() -> None:
    out = bytearray()
    FastCodec().append_message(out, "héllo ✓")
    assert server_reads(bytes(out)) == [
        TextMessage(data="héllo ✓", frame_finished=True, message_finished=True)
    ]


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1025, 4099, 70001])
@pytest.mark.parametrize("start", [0, 1, 3, 10])
@pytest.mark.parametrize("path", ["pure", "numpy"])
def test_both_masking_paths(size: int, start: int, path: str) -> None:
    # The pure path, and the numpy one (the speedups extra), at any alignment.
    if path == "numpy" and not fast_codec._numpy_loaded():
        pytest.skip("numpy is not installed")
    data = os.urandom(start + size)
    buf = bytearray(data)
    with memoryview(buf) as view, view[start:] as tail:
        getattr(fast_codec, f"_mask_into_{path}")(buf, start, tail, KEY)  # in place
    assert bytes(buf[start:]) == naive_mask(data[start:], KEY)
    assert buf[:start] == data[:start]
    buf += b"growable"  # no buffer view is left behind


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 4096, 4099, 65536])
@pytest.mark.parametrize("path", ["pure", "numpy"])
def test_both_paths_mask_into_a_buffer_without_resizing_it(size: int, path: str) -> None:
    if path == "numpy" and not fast_codec._numpy_loaded():
        pytest.skip("numpy is not installed")
    data = os.urandom(size)
    out = bytearray(b"\xee" * (size + 5))
    with memoryview(data) as piece:
        getattr(fast_codec, f"_mask_into_{path}")(out, 0, piece, KEY)
    assert bytes(out[:size]) == naive_mask(data, KEY)
    assert out[size:] == b"\xee" * 5  # nothing past the piece is touched
    out += b"growable"  # no buffer view is left behind


@pytest.mark.parametrize("size", [0, 1, 126, 65535, 65536, 65537, 200_003])
@pytest.mark.parametrize("kind", ["binary", "text", "memoryview"])
def test_message_pieces_are_the_frame_of_append_message(size: int, kind: str) -> None:
    # A large message is written piece by piece: the pieces, each copied
    # before the next is taken, are the same bytes as the frame built whole.
    raw = os.urandom(size)
    data: str | bytes | memoryview = (
        raw.hex()[:size] if kind == "text" else memoryview(raw) if kind == "memoryview" else raw
    )
    whole = bytearray()
    FastCodec(urandom=fixed_keys).append_message(whole, data)
    pieces = [bytes(piece) for piece in FastCodec(urandom=fixed_keys).message_pieces(data)]
    assert b"".join(pieces) == whole
    assert all(len(piece) <= limits.WRITE_PIECE_SIZE for piece in pieces[1:])
    [event] = server_reads(b"".join(pieces))
    assert event.data == (raw if kind != "text" else data)


def test_each_large_message_gets_a_fresh_key() -> None:
    codec = FastCodec()
    heads = [next(codec.message_pieces(bytes(70_000))) for _ in range(3)]
    assert len({head[-4:] for head in heads}) == 3  # RFC 6455 §5.3


# -- permessage-deflate: the size limit while inflating -------------------------------

MiB = 1024 * 1024


def zeros_compressed(size: int) -> bytes:
    """``size`` zero bytes as one compressed message's data (~1000:1, RFC 7692 §7.2.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def compressed_frame(payload: bytes, fin: bool = True, opcode: int = 0x2) -> bytes:
    first = (0x80 if fin else 0) | 0x40 | opcode  # RSV1: compressed (RFC 7692 §6)
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


@pytest.mark.parametrize("read", [limits.RECEIVE_SIZE, 7 * 1024])  # 7 KiB: ~7 MiB inflated
@pytest.mark.parametrize("fragments", [False, True])
def test_a_bomb_is_refused_once_it_inflates_past_the_limit(fragments: bool, read: int) -> None:
    """256 MiB of zeros in ~250 KB, limit 8 MiB: 1009, and never much past 8 MiB in memory."""
    bomb = zeros_compressed(256 * MiB)
    if fragments:
        pieces = [bomb[i : i + 4096] for i in range(0, len(bomb), 4096)]
        data = compressed_frame(pieces[0], fin=False)
        data += b"".join(bytes((0x00, 126)) + struct.pack("!H", len(p)) + p for p in pieces[1:])
    else:
        data = compressed_frame(bomb)
    codec = FastCodec(8 * MiB, DeflateParameters())
    tracemalloc.start()
    try:
        items: list[object] = []
        for start in range(0, len(data), read):
            items += codec.receive(data[start : start + read])
            if items:
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert items == [ProtocolFailure(1009, MESSAGE_TOO_BIG)]
    # Failed within the first reads: the rest was never inflated.
    assert start < 8 * MiB // 1000 + read
    # The message up to the limit and one inflated piece more, at most.
    assert peak < 8 * MiB + 2 * MiB + 2 * read, peak


def test_a_compressed_message_at_the_limit_is_delivered() -> None:
    codec = FastCodec(1 * MiB, DeflateParameters())
    data = compressed_frame(zeros_compressed(MiB)) + compressed_frame(zeros_compressed(MiB + 1))
    assert codec.receive(data) == [bytes(MiB), ProtocolFailure(1009, MESSAGE_TOO_BIG)]


@pytest.mark.parametrize("parameters", [DeflateParameters(), DeflateParameters(9, 9, True, True)])
def test_compressed_messages_are_read_back_by_a_server(parameters: DeflateParameters) -> None:
    codec = FastCodec(deflate=parameters)
    out = bytearray()
    messages: list[str | bytes] = ["héllo", b"\x00" * 3000, "", b"", "héllo"]
    for message in messages:
        codec.append_message(out, message)
    for piece in codec.message_pieces(b"large" * 100_000):
        out += piece
    extension = PerMessageDeflate()
    offer = f"permessage-deflate; client_max_window_bits={parameters.client_max_window_bits}"
    if parameters.client_no_context_takeover:
        offer += "; client_no_context_takeover"
    assert extension.accept(offer) is not None
    server = Connection(ConnectionType.SERVER, [extension])
    server.receive_data(bytes(out))
    events = list(server.events())
    assert [e.data for e in events if isinstance(e, Message)] == [*messages, b"large" * 100_000]
