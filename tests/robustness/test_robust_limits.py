"""Every limit of the engine, hit by a hostile server: what the script sees.

Long timers (the 240 s opening timeout, the 60 s and 2 s closing timers, a
byte a second) run on trio's MockClock: the clock jumps once every task has
been idle for ``autojump_threshold`` real seconds, so loopback I/O still
happens in real time and a 240 s wait costs milliseconds.
"""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w3cws import WebSocket
from w3cws._engine import limits

from ..websocket.conftest import accept_response, frame, raw_server, read_request, trace
from .hostile import Drip, Fin, Hold, Hostile, Sleep, check_story

FAIL = [("error", 3), ("close", 3, 1006, "", False)]
MiB = 1024 * 1024
STATUS = b"HTTP/1.1 101 Switching Protocols\r\n"


async def play(server: Hostile, timeout: float = 10, **kwargs: object) -> list[tuple[object, ...]]:
    """Connect to ``server``; the events once closed (checked for well-formedness)."""
    async with raw_server(server) as url:
        ws = WebSocket(url + "/", **kwargs)  # type: ignore[arg-type]
        ws.binaryType = "arraybuffer"
        t = trace(ws)
        with trio.fail_after(timeout):
            await t.closed.wait()
            await server.done.wait()
    check_story(t)
    return t.events


def close_code(server: Hostile) -> int:
    """The status code of the client's (single) Close frame."""
    (body,) = server.received.close_frames
    return int.from_bytes(body[:2], "big")


def use_mock_clock(clock: trio.testing.MockClock) -> None:
    clock.autojump_threshold = 0.005


# -- the opening handshake ---------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(min_size=1, max_size=300))
async def test_random_bytes_instead_of_a_handshake_fail(junk: bytes) -> None:
    """pytest-trio runs each Hypothesis example of an async test in its own trio.run."""
    # The server closes TCP after its junk, so a reply the client is still
    # waiting on ends as "closed during the handshake".
    server = Hostile(response=junk, steps=[Fin()])
    assert await play(server) == FAIL


async def test_junk_then_silence_hits_the_240s_opening_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    use_mock_clock(mock_clock)
    server = Hostile(response=b"HTTP/1.1 101 Swi", steps=[Hold()])
    start = trio.current_time()
    assert await play(server, timeout=300) == FAIL
    assert limits.OPEN_TIMEOUT <= trio.current_time() - start < limits.OPEN_TIMEOUT + 1


@pytest.mark.parametrize("read_request", [True, False], ids=["reads-request", "reads-nothing"])
async def test_server_that_never_answers_fails_at_240s(
    mock_clock: trio.testing.MockClock, read_request: bool
) -> None:
    use_mock_clock(mock_clock)
    server = Hostile(response=b"", read_request=read_request, steps=[Hold()])
    start = trio.current_time()
    assert await play(server, timeout=300) == FAIL
    assert 240 <= trio.current_time() - start < 241


async def test_open_timeout_keyword() -> None:
    server = Hostile(response=b"", steps=[Hold()])
    assert await play(server, open_timeout=0.2) == FAIL


async def test_slowloris_handshake_fails_at_240s(mock_clock: trio.testing.MockClock) -> None:
    """A 101 response that would take 300 s at a byte a second."""
    use_mock_clock(mock_clock)
    padding = b"X-Pad: " + b"p" * 150 + b"\r\n"
    server = Hostile(response=Drip(STATUS + padding), steps=[Hold()])
    start = trio.current_time()
    assert await play(server, timeout=400) == FAIL
    assert 240 <= trio.current_time() - start < 241


async def test_slow_handshake_within_the_timeout_opens(mock_clock: trio.testing.MockClock) -> None:
    """Slow is not hostile by itself: a whole response within 240 s opens."""
    use_mock_clock(mock_clock)

    async def handler(stream: trio.SocketStream) -> None:
        request = await read_request(stream)
        head = accept_response(request) + frame(0x1, b"late") + frame(0x8, b"\x03\xe8")
        server = Hostile(read_request=False, response=Drip(head, interval=0.5), echo_close=True)
        await server(stream)

    async with raw_server(handler) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        with trio.fail_after(300):
            await t.closed.wait()
    assert t.events == [("open", 1), ("message", 1, "late"), ("close", 3, 1000, "", True)]


@pytest.mark.parametrize("shape", ["huge-line", "huge-block"])
async def test_handshake_response_over_the_limit_fails(shape: str) -> None:
    if shape == "huge-line":
        head = STATUS + b"X-Big: " + b"a" * (16 * MiB) + b"\r\n\r\n"
    else:
        head = STATUS + b"X-Many: 1\r\n" * 1_500_000 + b"\r\n"
    server = Hostile(response=head)
    assert await play(server) == FAIL
    assert server.sent < len(head)  # the client gave up before reading it all


async def test_endless_header_block_fails() -> None:
    """Headers that never end: the client stops at MAX_HANDSHAKE_SIZE (64 KiB)."""
    server = Hostile(response=STATUS, steps=[b"X-More: 1234567890\r\n" * 1000] * 20_000)
    assert await play(server) == FAIL
    assert server.sent < 64 * MiB


async def test_handshake_response_under_the_limit_opens() -> None:
    extra = b"X-Fill: " + b"f" * 1000 + b"\r\n"
    server = Hostile(extra=extra * 50, steps=[frame(0x8, b"\x03\xe8")])
    events = await play(server)
    assert events == [("open", 1), ("close", 3, 1000, "", True)]


async def test_max_handshake_size_keyword() -> None:
    server = Hostile(extra=b"X-Fill: " + b"f" * 8000 + b"\r\n")
    assert await play(server, max_handshake_size=4096) == FAIL


# -- message size --------------------------------------------------------------------


def header(opcode: int, length: int, *, rsv: int = 0) -> bytes:
    """A frame header announcing ``length`` payload bytes (8-byte length form)."""
    return bytes([0x80 | rsv << 4 | opcode, 127]) + length.to_bytes(8, "big")


async def test_declared_512_mib_message_fails_1009_at_the_default_limit() -> None:
    """512 MiB announced and streamed: failed once 64 MiB arrived, 1009 on the wire."""
    chunk = bytes(MiB)
    server = Hostile(steps=[header(0x2, 512 * MiB), *[chunk] * 512])
    events = await play(server, timeout=30)
    assert events == [("open", 1), *FAIL]
    assert close_code(server) == 1009
    # The client stopped reading at the limit; the sockets buffer a few MiB more.
    assert server.sent < limits.MAX_MESSAGE_SIZE + 32 * MiB


async def test_fragments_adding_up_over_the_limit_fail_1009() -> None:
    parts = [frame(0x2, b"x" * 1000, fin=False)]
    parts += [frame(0x0, b"x" * 1000, fin=False)] * 200
    server = Hostile(steps=[b"".join(parts), frame(0x0, b"", fin=True)])
    assert await play(server, max_message_size=100_000) == [("open", 1), *FAIL]
    assert close_code(server) == 1009


@pytest.mark.parametrize("length", [512 * MiB, 2**63 - 1], ids=["512MiB", "2^63-1"])
async def test_announced_length_over_the_limit_fails_at_once(
    mock_clock: trio.testing.MockClock, length: int
) -> None:
    use_mock_clock(mock_clock)
    server = Hostile(steps=[header(0x2, length) + b"only this", Hold()])
    assert await play(server, timeout=10) == [("open", 1), *FAIL]
    assert close_code(server) == 1009


async def test_length_with_the_top_bit_set_fails_1002() -> None:
    """2^63: RFC 6455 §5.2 requires the most significant bit to be 0."""
    server = Hostile(steps=[header(0x2, 2**63) + b"x" * 100])
    assert await play(server) == [("open", 1), *FAIL]
    assert close_code(server) == 1002


def deflate_bomb(size: int) -> bytes:
    """Raw DEFLATE of ``size`` zero bytes, ~1000:1, without the 00 00 ff ff tail.

    One MiB compressed after a full flush gives the same bytes every time, so
    the bomb is that block repeated, built in milliseconds.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert block.endswith(b"\x00\x00\xff\xff")
    return (block * (size // MiB))[:-4]


async def test_compressed_bomb_is_bounded_by_the_default_limit() -> None:
    """1 GiB of zeros in ~1 MiB: failed at 64 MiB, memory never near 1 GiB."""
    bomb = deflate_bomb(1024 * MiB)
    assert len(bomb) < 2 * MiB
    server = Hostile(
        extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
        steps=[frame(0x2, bomb, rsv=4)],
    )
    tracemalloc.start()
    try:
        events = await play(server, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert events == [("open", 1), *FAIL]
    assert close_code(server) == 1009
    # The message buffer up to the limit, one inflated slice, the bomb itself.
    assert peak < limits.MAX_MESSAGE_SIZE + 32 * MiB, peak


async def test_compressed_bomb_in_many_fragments_is_bounded() -> None:
    bomb = deflate_bomb(256 * MiB)
    pieces = [bomb[i : i + 4096] for i in range(0, len(bomb), 4096)]
    frames = [frame(0x2, pieces[0], rsv=4, fin=False)]
    frames += [frame(0x0, p, fin=False) for p in pieces[1:-1]]
    frames.append(frame(0x0, pieces[-1]))
    server = Hostile(
        extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n", steps=[b"".join(frames)]
    )
    assert await play(server, max_message_size=8 * MiB) == [("open", 1), *FAIL]
    assert close_code(server) == 1009


# -- the closing timers ----------------------------------------------------------------


async def test_close_then_tcp_open_forever_with_noise_is_clean_after_2s(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The server's Close, then junk every 0.1 s and no FIN: the client closes at 2 s."""
    use_mock_clock(mock_clock)
    noise = [b"\xff\x00garbage", Sleep(0.1)] * 10_000
    server = Hostile(steps=[frame(0x8, b"\x0f\xa0bye"), *noise], fin_on_close=False)
    start = trio.current_time()
    events = await play(server, timeout=60)
    assert events == [("open", 1), ("close", 3, 4000, "bye", True)]
    assert limits.TCP_CLOSE_TIMEOUT <= trio.current_time() - start < limits.TCP_CLOSE_TIMEOUT + 1
    assert server.received.close_frames == [b"\x0f\xa0bye"]


async def test_no_close_reply_while_dripping_drops_at_60s(
    mock_clock: trio.testing.MockClock,
) -> None:
    """close(), and the server trickles a message a byte a second instead of replying."""
    use_mock_clock(mock_clock)
    server = Hostile(steps=[Sleep(1), Drip(frame(0x1, b"z" * 120_000))], fin_on_close=False)
    async with raw_server(server) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        await t.wait_open(timeout=10)
        ws.close(3000)
        start = trio.current_time()
        with trio.fail_after(120):
            await t.closed.wait()
        waited = trio.current_time() - start
    check_story(t)
    assert t.events == [("open", 1), ("close", 3, 1006, "", False)]
    assert limits.CLOSE_TIMEOUT <= waited < limits.CLOSE_TIMEOUT + 1
