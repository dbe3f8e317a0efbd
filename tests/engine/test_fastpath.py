"""The fast frame path against wsproto: same bytes out, same events in."""

from __future__ import annotations

import itertools
import os
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol, Opcode, XorMaskerSimple

from w3cws._engine.fastpath import FastClientConnection, mask, serialize_frame, supports
from w3cws._engine.tap import InboundTap

KEY = b"\x37\xfa\x21\x3d"
SIZES = [0, 1, 3, 4, 5, 125, 126, 127, 1023, 1024, 1025, 4097, 65535, 65536, 70001]


def fixed_keys(n: int) -> bytes:
    return KEY * (n // 4)


def wsproto_client_frame(monkeypatch: pytest.MonkeyPatch, opcode: Opcode, payload: bytes) -> bytes:
    monkeypatch.setattr("wsproto.frame_protocol.os.urandom", lambda n: KEY)
    return bytes(FrameProtocol(client=True, extensions=[])._serialize_frame(opcode, payload))


# -- sending --


@pytest.mark.parametrize("size", SIZES)
def test_mask_matches_wsproto(size: int) -> None:
    data = os.urandom(size)
    expected = bytes(XorMaskerSimple(KEY).process(bytearray(data)))
    assert bytes(mask(data, KEY)) == expected
    assert bytes(mask(bytearray(data), KEY)) == expected
    assert bytes(mask(memoryview(data), KEY)) == expected
    assert bytes(mask(mask(data, KEY), KEY)) == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION])
def test_frames_byte_for_byte(monkeypatch: pytest.MonkeyPatch, opcode: Opcode, size: int) -> None:
    payload = os.urandom(size)
    assert serialize_frame(opcode, payload, KEY) == wsproto_client_frame(
        monkeypatch, opcode, payload
    )


def test_unfinished_frame_has_no_fin() -> None:
    assert serialize_frame(2, b"ab", KEY)[0] == 0x82
    assert serialize_frame(2, b"ab", KEY, fin=False)[0] == 0x02


@pytest.mark.parametrize(
    "data", ["", "héllo ✓", "x" * 70000, b"", b"\x00" * 126, memoryview(b"mv")]
)
def test_send_matches_wsproto(monkeypatch: pytest.MonkeyPatch, data: Any) -> None:
    monkeypatch.setattr("wsproto.frame_protocol.os.urandom", lambda n: KEY)
    reference = Connection(ConnectionType.CLIENT, [InboundTap()])
    fast = FastClientConnection([InboundTap()], urandom=fixed_keys)
    assert fast.send(Message(data=data)) == reference.send(Message(data=data))
    out = bytearray()
    fast.append_message(out, data)
    assert bytes(out) == reference.send(Message(data=data))


def test_batch_is_frames_in_order_with_fresh_keys() -> None:
    fast = FastClientConnection()
    out = bytearray()
    messages: list[str | bytes] = [b"a" * n for n in (0, 10, 200, 3000)] + ["t" * 50]
    for message in messages:
        fast.append_message(out, message)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(bytes(out))
    got = [e.data for e in server.events() if isinstance(e, Message)]
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


def test_control_frames_and_close_state_go_through_wsproto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wsproto.frame_protocol.os.urandom", lambda n: KEY)
    reference = Connection(ConnectionType.CLIENT, [InboundTap()])
    fast = FastClientConnection([InboundTap()], urandom=fixed_keys)
    for event in (Pong(payload=b"p"), Ping(payload=b"q"), CloseConnection(code=1000, reason="bye")):
        assert fast.send(event) == reference.send(event)
    assert fast.state is reference.state is ConnectionState.LOCAL_CLOSING
    with pytest.raises(Exception, match="cannot be sent"):
        fast.append_message(bytearray(), b"late")


CLOSES = [
    (None, None),
    (None, ""),
    (1000, None),
    (1000, ""),
    (1000, "bye"),
    (1001, "é" * 61),
    (3000, "x" * 123),
    (4999, "x" * 124),  # over 123 bytes: wsproto truncates
    (1005, None),
    (1006, "gone"),
    (1015, ""),
]


@pytest.mark.parametrize(("code", "reason"), CLOSES)
@pytest.mark.parametrize("remote_first", [False, True])
def test_close_frames_match_wsproto(
    monkeypatch: pytest.MonkeyPatch, code: int | None, reason: str | None, remote_first: bool
) -> None:
    monkeypatch.setattr("wsproto.frame_protocol.os.urandom", lambda n: KEY)
    reference = Connection(ConnectionType.CLIENT, [InboundTap()])
    fast = FastClientConnection([InboundTap()], urandom=fixed_keys)
    if remote_first:
        for conn in (reference, fast):
            conn.receive_data(b"\x88\x02\x03\xe8")  # the server's Close 1000
            list(conn.events())
    event = CloseConnection(code=code, reason=reason)  # type: ignore[arg-type]
    assert fast.send(event) == reference.send(event)
    assert fast.state is reference.state


@pytest.mark.parametrize("size", [0, 1, 4, 5, 125])
def test_pongs_match_wsproto(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr("wsproto.frame_protocol.os.urandom", lambda n: KEY)
    reference = Connection(ConnectionType.CLIENT, [InboundTap()])
    fast = FastClientConnection([InboundTap()], urandom=fixed_keys)
    payload = os.urandom(size)
    assert fast.send(Pong(payload=payload)) == reference.send(Pong(payload=payload))


def test_unsupported_extensions() -> None:
    from wsproto.extensions import PerMessageDeflate

    deflate = PerMessageDeflate()
    assert supports([InboundTap(), deflate])  # offered, not enabled
    deflate.finalize("permessage-deflate")
    assert not supports([deflate])
    with pytest.raises(ValueError):
        FastClientConnection([deflate])


# -- receiving --


def server_frames(script: list[tuple[str, Any]]) -> bytes:
    """Frames as a server sends them, from a small script."""
    proto = FrameProtocol(client=False, extensions=[])
    out = bytearray()
    for kind, value in script:
        if kind == "msg":
            out += proto.send_data(value)
        elif kind == "frag":  # a message in pieces
            for i, piece in enumerate(value):
                out += proto.send_data(piece, fin=i == len(value) - 1)
        elif kind == "ping":
            out += proto.ping(value)
        elif kind == "pong":
            out += proto.pong(value)
        elif kind == "close":
            out += proto.close(*value)
        elif kind == "raw":
            out += value
    return bytes(out)


def normalize(events: list[Event]) -> list[tuple[Any, ...]]:
    """Join message pieces so both sides compare as whole messages."""
    result: list[tuple[Any, ...]] = []
    parts: list[Any] = []
    for event in events:
        if isinstance(event, TextMessage | BytesMessage):
            parts.append(event.data)
            if event.message_finished:
                joined = "".join(parts) if isinstance(event.data, str) else b"".join(parts)
                result.append(("message", joined))
                parts = []
        elif isinstance(event, Ping | Pong):
            result.append((type(event).__name__, bytes(event.payload)))
        elif isinstance(event, CloseConnection):
            result.append(("close", int(event.code), event.reason))
    # Pieces of a message that never ended (a protocol error came first) are
    # dropped by the engine either way.
    return result


def run_both(data: bytes, cuts: list[int]) -> tuple[Any, Any, Any, Any]:
    reference = Connection(ConnectionType.CLIENT, [ref_tap := InboundTap()])
    fast = FastClientConnection([fast_tap := InboundTap()])
    ref_events: list[Event] = []
    fast_events: list[Event] = []
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    for start, stop in itertools.pairwise(bounds):
        for conn, sink in ((reference, ref_events), (fast, fast_events)):
            if conn.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
                conn.receive_data(data[start:stop])
                sink.extend(conn.events())
    assert (fast_tap.code, fast_tap.reason) == (ref_tap.code, ref_tap.reason)
    return normalize(ref_events), normalize(fast_events), reference.state, fast.state


SCRIPT = [
    ("msg", b"hello"),
    ("msg", "héllo ✓"),
    ("msg", b""),
    ("msg", ""),
    ("msg", os.urandom(200)),
    ("ping", b"pi"),
    ("frag", [b"ab", b"", b"cd"]),
    ("frag", ["é✓"[:1], "", "✓"]),
    ("msg", os.urandom(70000)),
    ("pong", b""),
    ("msg", "z" * 300),
    ("close", (1000, "done")),
    ("msg", b"after close: ignored"),
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 1000, 65536, 10**9])
def test_receive_matches_wsproto_at_any_split(step: int) -> None:
    data = server_frames(SCRIPT)
    ref, fast, ref_state, fast_state = run_both(data, list(range(step, len(data), step)))
    assert fast == ref
    assert ref[-1] == ("close", 1000, "done")
    assert fast_state is ref_state is ConnectionState.REMOTE_CLOSING


def test_whole_messages_come_as_plain_items() -> None:
    fast = FastClientConnection()
    fast.receive_data(server_frames([("msg", b"a"), ("msg", "b"), ("frag", [b"c", b"d"])]))
    assert fast.items() == [b"a", "b", b"cd"]
    assert fast.items() == []


chunks = st.one_of(st.binary(max_size=300), st.text(max_size=100))
scripts = st.lists(
    st.one_of(
        st.tuples(st.just("msg"), chunks),
        st.tuples(st.just("frag"), st.lists(st.binary(max_size=200), min_size=1, max_size=4)),
        st.tuples(st.just("frag"), st.lists(st.text(max_size=50), min_size=1, max_size=4)),
        st.tuples(st.just("ping"), st.binary(max_size=125)),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(scripts, st.lists(st.integers(min_value=1, max_value=5000), max_size=8))
def test_receive_property(script: list[tuple[str, Any]], cuts: list[int]) -> None:
    data = server_frames(script)
    ref, fast, ref_state, fast_state = run_both(data, cuts)
    assert fast == ref
    assert fast_state is ref_state


BAD = {
    "masked": b"\x82\x81abcd\x00",
    "rsv1": b"\xc2\x01x",
    "rsv3": b"\x92\x01x",
    "opcode": b"\x83\x00",
    "fragmented control": b"\x09\x00",
    "long control": b"\x89\x7e\x00\x80" + b"x" * 128,
    "continuation first": b"\x80\x01x",
    "no continuation": b"\x02\x01a\x81\x01b",
    "short 16-bit": b"\x82\x7e\x00\x05hello",
    "short 64-bit": b"\x82\x7f" + struct.pack("!Q", 100) + b"x" * 100,
    "msb 64-bit": b"\x82\x7f" + struct.pack("!Q", 1 << 63),
    "bad utf-8": b"\x81\x02\xc3\x28",
    "bad utf-8 split": b"\x01\x01\xff\x80\x01a",
    "close 1 byte": b"\x88\x01\x03",
    "close 999": b"\x88\x02" + struct.pack("!H", 999),
    "close 1005": b"\x88\x02" + struct.pack("!H", 1005),
    "close 1004": b"\x88\x02" + struct.pack("!H", 1004),
    "close 1014": b"\x88\x04" + struct.pack("!H", 1014) + b"gw",
    "close 5000": b"\x88\x02" + struct.pack("!H", 5000),
    "close 4999": b"\x88\x02" + struct.pack("!H", 4999),
    "close bad reason": b"\x88\x04\x03\xe8\xc3\x28",
    "close empty": b"\x88\x00",
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("step", [1, 1000])
def test_errors_match_wsproto(name: str, step: int) -> None:
    data = b"\x82\x02ok" + BAD[name] + b"\x82\x01z"
    ref, fast, ref_state, fast_state = run_both(data, list(range(step, len(data), step)))
    assert fast == ref
    assert fast_state is ref_state


def test_too_big_messages_fail_at_their_header() -> None:
    fast = FastClientConnection(max_message_size=100)
    fast.receive_data(server_frames([("msg", b"x" * 100), ("msg", b"y" * 101)]))
    items = fast.items()
    assert items[0] == b"x" * 100
    assert items[1] == CloseConnection(code=1009, reason="message too big")
    assert fast.state is ConnectionState.OPEN  # a protocol failure, not the peer's Close
    frames = server_frames([("frag", [b"a" * 60, b"b" * 60])])
    fast = FastClientConnection(max_message_size=100)
    fast.receive_data(frames[:62])  # the first fragment fits; nothing is out yet
    assert fast.items() == []
    fast.receive_data(frames[62:])  # the second would pass the bound: failed at its header
    assert fast.items() == [CloseConnection(code=1009, reason="message too big")]
    fast = FastClientConnection(max_message_size=16)
    fast.receive_data(server_frames([("frag", ["é" * 4, "é" * 4])]))
    assert fast.items() == ["é" * 8]  # 16 bytes: within the bound


def test_states_after_close_and_eof() -> None:
    fast = FastClientConnection()
    fast.send(CloseConnection(code=1000))
    fast.receive_data(server_frames([("close", (1000, ""))]))
    assert fast.state is ConnectionState.CLOSED
    assert list(fast.events())[-1] == CloseConnection(code=1000, reason="")
    with pytest.raises(Exception, match="already closed"):
        fast.receive_data(b"x")
    fast = FastClientConnection()
    fast.receive_data(None)
    assert fast.state is ConnectionState.CLOSED
    assert list(fast.events()) == [CloseConnection(code=1006)]


def test_trailing_data_is_parsed() -> None:
    fast = FastClientConnection([], server_frames([("msg", "first")]))
    assert fast.items() == ["first"]
