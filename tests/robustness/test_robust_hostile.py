"""A valid handshake, then a server that misbehaves: garbage, truncation, resets, floods.

Whatever happens, the script must see a well-formed story (``check_story``)
and only whole messages, each once, in order.
"""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from w3cws import WebSocket

from ..websocket.conftest import accept_response, frame, raw_server, read_request, trace
from .hostile import Drip, Fin, Hostile, Reset, Sleep, StateSampler, check_story, open_fds, settle

FAIL = [("error", 3), ("close", 3, 1006, "", False)]
DROPPED = [("close", 3, 1006, "", False)]


async def play(server: Hostile, timeout: float = 10, **kwargs: object) -> list[tuple[object, ...]]:
    """Connect to ``server``; the events once closed, after the story checks."""
    async with raw_server(server) as url:
        ws = WebSocket(url + "/", **kwargs)  # type: ignore[arg-type]
        ws.binaryType = "arraybuffer"
        t = trace(ws)
        server.observe = StateSampler(ws)
        with trio.fail_after(timeout):
            await t.closed.wait()
            await server.done.wait()
    check_story(t)
    server.observe.check()
    return t.events


def close_code(server: Hostile) -> int:
    (body,) = server.received.close_frames
    return int.from_bytes(body[:2], "big")


# -- garbage ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        b"\xff" * 64,  # reserved opcode, RSV bits
        b"\x00" * 64,  # a continuation with nothing to continue
        b"HTTP/1.1 200 OK\r\n\r\n",  # a second HTTP response
        random.Random(6455).randbytes(4096),
    ],
    ids=["ff", "zeros", "http", "random"],
)
async def test_garbage_after_the_handshake_fails(junk: bytes) -> None:
    server = Hostile(steps=[frame(0x1, b"first"), junk])
    events = await play(server)
    assert events == [("open", 1), ("message", 1, "first"), *FAIL]
    assert close_code(server) == 1002


# -- truncation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        b"\x81",  # one byte of a header
        b"\x82\x7f\x00\x00",  # half of an 8-byte length
        frame(0x2, b"x" * 100)[:50],  # half a payload
        frame(0x1, b"part", fin=False),  # a message never finished
        frame(0x8, b"\x03\xe8bye")[:4],  # half a Close frame
    ],
    ids=["header-byte", "half-length", "half-payload", "unfinished-message", "half-close"],
)
@pytest.mark.parametrize("ending", [Fin(), Reset()], ids=["fin", "rst"])
async def test_truncated_frame_then_tcp_end_is_an_abnormal_close(
    tail: bytes, ending: Fin | Reset
) -> None:
    """TCP ends mid-frame: close 1006 without error (WS §4), no partial message."""
    server = Hostile(steps=[frame(0x2, b"whole"), tail, Sleep(0.05), ending])
    events = await play(server)
    assert events == [("open", 1), ("message", 1, b"whole"), *DROPPED]


# -- resets ----------------------------------------------------------------------------------

STREAM = [
    frame(0x1, b"one"),
    frame(0x2, b"tw", fin=False) + frame(0x0, b"o"),
    frame(0x9, b"ping"),
    frame(0x1, b"three" * 50),
    frame(0x8, b"\x03\xe8done"),
]
MESSAGES = ["one", b"two", "three" * 50]


DATA = b"".join(STREAM)


@pytest.mark.parametrize("cut", [0, 1, 4, 5, 9, 10, 16, 40, len(DATA) - 1, len(DATA)])
async def test_reset_at_any_point_after_open(cut: int) -> None:
    """RST after ``cut`` bytes of the stream: a prefix of the messages, then close."""
    server = Hostile(steps=[DATA[:cut], Sleep(0.02), Reset()])
    events = await play(server)
    messages = [e[2] for e in events if e[0] == "message"]
    assert messages == MESSAGES[: len(messages)]
    assert "error" not in [e[0] for e in events]
    if cut < len(DATA):
        assert events[-1] == ("close", 3, 1006, "", False)
    else:
        # The Close arrived; the RST may beat the client's echo.
        assert messages == MESSAGES
        assert events[-1][:4] == ("close", 3, 1000, "done")


@pytest.mark.parametrize("cut", [0, 10, 40, None], ids=["before", "status", "headers", "all"])
async def test_reset_during_the_handshake_fails(cut: int | None) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        response = accept_response(await read_request(stream))
        server = Hostile(
            read_request=False,
            response=response[: len(response) - 2 if cut is None else cut],
            steps=[Sleep(0.02), Reset()],
        )
        await server(stream)

    async with raw_server(handler) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        await t.wait_closed()
    assert t.events == FAIL


# -- slowloris ---------------------------------------------------------------------------------


async def test_message_at_a_byte_a_second_arrives_whole(
    mock_clock: trio.testing.MockClock,
) -> None:
    """No timer bounds an open connection: a slow message is a message."""
    mock_clock.autojump_threshold = 0.005
    text = "slow but steady " * 4
    stream = frame(0x1, text.encode()[:20], fin=False) + frame(0x0, text.encode()[20:])
    server = Hostile(steps=[Drip(stream + frame(0x8, b"\x03\xe8"))])
    start = trio.current_time()
    events = await play(server, timeout=600)
    assert events == [("open", 1), ("message", 1, text), ("close", 3, 1000, "", True)]
    assert trio.current_time() - start >= len(stream)


# -- floods -------------------------------------------------------------------------------------


async def test_thousands_of_pings_are_answered_in_order() -> None:
    pings = [f"ping {i}".encode() for i in range(5000)]
    flood = b"".join(frame(0x9, p) for p in pings)
    server = Hostile(steps=[flood, frame(0x1, b"after the flood"), frame(0x8, b"\x03\xe8")])
    events = await play(server, timeout=30)
    assert events == [("open", 1), ("message", 1, "after the flood"), ("close", 3, 1000, "", True)]
    pongs = [p for op, p in server.received.frames if op == 0xA]
    # RFC 6455 §5.5.3 lets a client answer only the latest of pending Pings,
    # so: some Pongs, in order, each for a Ping sent, the last for the last.
    assert pongs and pongs[-1] == pings[-1]
    it = iter(pings)
    assert all(p in it for p in pongs)
    assert server.received.opcodes[-1] == 0x8


async def test_ping_flood_from_a_server_that_never_reads(
    mock_clock: trio.testing.MockClock,
) -> None:
    """10 000 Pings while the server reads nothing: the client stays correct."""
    mock_clock.autojump_threshold = 0.05  # a deadlock shows in real milliseconds
    flood = frame(0x9, b"p" * 125) * 10_000
    server = Hostile(
        steps=[flood, frame(0x1, b"still here"), frame(0x8, b"\x03\xe8")],
        read_while_playing=False,
    )
    events = await play(server, timeout=30)
    assert events == [("open", 1), ("message", 1, "still here"), ("close", 3, 1000, "", True)]
    assert server.received.opcodes[-1] == 0x8


async def test_replies_from_listeners_to_a_server_that_never_reads() -> None:
    """Each message is answered from its listener with 256 KiB while the server
    reads nothing: more than the sockets can buffer, so the reader hands what
    the kernel does not take to the writer, and keeps reading."""
    n, size = 64, 256 * 1024
    burst = b"".join(frame(0x1, f"{i}".encode()) for i in range(n))
    server = Hostile(steps=[burst, frame(0x8, b"\x03\xe8")], read_while_playing=False)
    async with raw_server(server) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        ws.addEventListener("message", lambda e: ws.send(bytes([int(e.data)]) * size))
        with trio.fail_after(30):
            await t.closed.wait()
            await server.done.wait()
    check_story(t)
    assert t.messages == [f"{i}" for i in range(n)]  # all read while the writes waited
    assert t.events[-1] == ("close", 3, 1000, "", True)
    data = [p for op, p in server.received.frames if op == 0x2]
    assert data == [bytes([i]) * size for i in range(n)]  # whole, in order
    assert server.received.opcodes[-1] == 0x8
    assert ws.bufferedAmount == 0


async def test_a_flood_then_eof_is_read_to_the_end() -> None:
    # Many reads' worth arrives at once, then TCP closes with no Close frame:
    # every message is delivered before the end of the stream (RFC 6455
    # §7.1.5: 1006, and no error event).
    messages = [bytes([i]) * (100_000 + i) for i in range(12)]
    server = Hostile(steps=[b"".join(frame(0x2, m) for m in messages), Fin()])
    events = await play(server, timeout=30)
    assert events == [("open", 1)] + [("message", 1, m) for m in messages] + [
        ("close", 3, 1006, "", False)
    ]


async def test_a_message_in_twenty_thousand_fragments() -> None:
    parts = [frame(0x2, b"a", fin=False)]
    parts += [frame(0x0, b"b", fin=False)] * 20_000
    parts.append(frame(0x0, b"c"))
    server = Hostile(steps=[b"".join(parts), frame(0x8, b"\x03\xe8")])
    events = await play(server, timeout=30)
    assert events == [
        ("open", 1),
        ("message", 1, b"a" + b"b" * 20_000 + b"c"),
        ("close", 3, 1000, "", True),
    ]


async def test_many_messages_in_one_burst_keep_their_order() -> None:
    sent = [f"m{i}" if i % 3 else f"b{i}".encode() for i in range(3000)]
    burst = b"".join(frame(0x1, m.encode()) if isinstance(m, str) else frame(0x2, m) for m in sent)
    server = Hostile(steps=[burst, frame(0x8, b"\x03\xe8")])
    events = await play(server, timeout=30)
    assert [e[2] for e in events if e[0] == "message"] == sent
    assert events[-1] == ("close", 3, 1000, "", True)


# -- nothing left behind ---------------------------------------------------------------------


async def test_hostile_connections_leave_no_task_or_fd() -> None:
    """A mix of the above, then the task count and the fd count are back."""
    await settle()
    fds = open_fds()
    tasks = trio.lowlevel.current_statistics().tasks_living
    scripts = [
        [b"\xff" * 10],
        [frame(0x2, b"x" * 100)[:40], Reset()],
        [frame(0x1, b"ok"), Fin()],
        [frame(0x8, b"\x03\xe8"), Fin()],
        [frame(0x9, b"") * 500, Reset()],
    ]
    for steps in scripts:
        await play(Hostile(steps=steps))
    await settle()
    assert trio.lowlevel.current_statistics().tasks_living == tasks
    assert open_fds() == fds


async def test_close_code_is_a_plain_int() -> None:
    events = await play(Hostile(steps=[frame(0x8, b"\x03\xe8")]))
    code = events[-1][2]
    assert type(code) is int, repr(code)


async def test_close_is_bounded_when_the_server_never_reads(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The script sends more than the sockets can buffer, then closes: the Close
    frame can never be written, yet CLOSED must come within the closing timeout."""
    mock_clock.autojump_threshold = 0.005
    server = Hostile(steps=[Sleep(10_000)], read_while_playing=False)
    async with raw_server(server) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        await t.wait_open(timeout=10)
        ws.send(bytes(64 * 1024 * 1024))
        await trio.sleep(1)
        ws.close()
        start = trio.current_time()
        with trio.fail_after(600):
            await t.closed.wait()
        waited = trio.current_time() - start
    check_story(t)
    assert t.events == [("open", 1), ("close", 3, 1006, "", False)]
    assert waited <= 60 + 2 + 1
