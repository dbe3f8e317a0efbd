"""The writer on its own: its phases decide what goes out, in what order.

A fake stream stands in for TLS (every write goes through the writer task,
in slices) and records what is written; a wsproto server connection reads
it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Pong, TextMessage

from w3cws._engine import limits
from w3cws._engine.fast_codec import FastCodec
from w3cws._engine.writer import Phase, Writer


class FakeStream:
    """Records each ``send_all``; a checkpoint per call, as trio's streams."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.writes.append(bytes(data))


def read_back(stream: FakeStream) -> list[Any]:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(b"".join(stream.writes))
    return list(server.events())


def msg(data: str | bytes) -> Any:
    kind = TextMessage if isinstance(data, str) else BytesMessage
    return kind(data=data, frame_finished=True, message_finished=True)


async def run_writer(script: Any) -> tuple[FakeStream, Writer, list[int]]:
    stream, sent = FakeStream(), []
    async with trio.open_nursery() as nursery:
        writer = Writer(stream, FastCodec(), nursery, sent.append, 1)  # type: ignore[arg-type]
        script(writer)
        with trio.fail_after(5):
            await writer.close_sent.wait()
    return stream, writer, sent


async def test_messages_then_close_and_nothing_after() -> None:
    def script(writer: Writer) -> None:
        writer.send("hé", 3)
        writer.send(b"xy", 2)
        writer.close(3000, "bye")
        writer.send(b"late", 4)  # after close(): never written
        writer.ping_received(b"pong too late")

    stream, writer, sent = await run_writer(script)
    assert read_back(stream) == [msg("hé"), msg(b"xy"), CloseConnection(3000, "bye")]
    assert sum(sent) == 5
    assert writer.phase is Phase.CLOSE_SENT


async def test_server_close_drops_queued_data_but_not_pongs() -> None:
    def script(writer: Writer) -> None:
        writer.dispatching = True  # as while the reader runs listeners
        writer.ping_received(FastCodec().pong(b"p"))
        writer.send(b"queued", 6)
        writer.dispatching = False
        writer.close_received(4001, "going")
        assert writer.phase in (Phase.CLOSE_RECEIVED, Phase.CLOSE_SENT)

    stream, _, sent = await run_writer(script)
    assert read_back(stream) == [Pong(payload=b"p"), CloseConnection(4001, "going")]
    assert sent == []


async def test_an_empty_close_is_echoed_empty() -> None:
    stream, _, _ = await run_writer(lambda writer: writer.close_received(1005, ""))
    assert b"".join(stream.writes)[:2] == b"\x88\x80"  # Close, masked, no body


async def test_failing_sends_only_the_failure_close() -> None:
    def script(writer: Writer) -> None:
        writer.dispatching = True
        writer.send(b"dropped", 7)
        writer.fail(1002, "Unknown opcode")
        writer.close(1000, "")  # a close() racing the failure: not written

    stream, _, sent = await run_writer(script)
    assert read_back(stream) == [CloseConnection(1002, "Unknown opcode")]
    assert sent == []


async def test_tls_writes_go_in_slices() -> None:
    big = bytes(range(256)) * 1024  # 256 KiB

    def script(writer: Writer) -> None:
        writer.send(big, len(big))
        writer.close(1000, "")

    stream, _, sent = await run_writer(script)
    assert max(len(w) for w in stream.writes) <= limits.TLS_WRITE_SIZE
    assert len(stream.writes) > 4
    assert read_back(stream) == [msg(big), CloseConnection(1000, "")]
    assert sent == [len(big)]


async def test_going_away_only_from_an_idle_open_writer() -> None:
    async with trio.open_nursery() as nursery:
        writer = Writer(FakeStream(), FastCodec(), nursery, lambda n: None, 1)  # type: ignore[arg-type]
        frame = writer.going_away()
        assert frame is not None and frame[0] == 0x88
        assert writer.phase is Phase.CLOSE_SENT
        assert writer.going_away() is None  # nothing follows a Close


async def test_a_large_message_goes_in_pieces_in_its_place() -> None:
    big = bytes(range(256)) * 800 + b"end"  # more than one piece
    written_at_sent: list[tuple[int, int]] = []
    stream = FakeStream()

    def on_sent(n: int) -> None:
        written_at_sent.append((n, sum(len(w) for w in stream.writes)))

    async with trio.open_nursery() as nursery:
        writer = Writer(stream, FastCodec(), nursery, on_sent, 1)  # type: ignore[arg-type]
        writer.send(b"before", 6)
        writer.send(big, len(big))
        writer.send("after", 5)
        writer.close(1000, "")
        with trio.fail_after(5):
            await writer.close_sent.wait()
    assert read_back(stream) == [msg(b"before"), msg(big), msg("after"), CloseConnection(1000, "")]
    # No write is a copy of the whole message.
    assert max(len(w) for w in stream.writes) <= limits.WRITE_PIECE_SIZE + 32
    # bufferedAmount drops by the large message once all of its frame is written.
    sizes = [n for n, _ in written_at_sent]
    assert sizes == [6, len(big), 5]
    frame_end = 2 + 6 + 4 + 10 + 4 + len(big)  # "before" frame, then big's
    assert written_at_sent[1][1] >= frame_end


def fail_midway(writer: Writer) -> None:
    writer.send(b"queued", 6)
    writer.fail(1002, "Unknown opcode")
    writer.send(b"after", 5)


def server_close_midway(writer: Writer) -> None:
    writer.send(b"queued", 6)
    writer.close_received(1000, "bye")


@pytest.mark.parametrize(
    ("midway", "close"),
    [
        (fail_midway, CloseConnection(1002, "Unknown opcode")),
        (server_close_midway, CloseConnection(1000, "bye")),
    ],
)
async def test_a_large_message_half_written_is_finished_before_the_close(
    midway: Callable[[Writer], None], close: CloseConnection
) -> None:
    # RFC 6455 §5.4: frames are not interleaved, so a Close (ours failing
    # the connection, or the echo of the server's) can only follow the rest
    # of a frame that is half written. Taking from the outbox commits: what
    # was taken with the large message goes out too; what is still queued
    # is dropped.
    big = bytes(range(256)) * 1000

    class Midway(FakeStream):
        writer: Writer

        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            await super().send_all(data)
            if len(self.writes) == 2:
                midway(self.writer)

    stream, sent = Midway(), []
    async with trio.open_nursery() as nursery:
        writer = Writer(stream, FastCodec(), nursery, sent.append, 1)  # type: ignore[arg-type]
        stream.writer = writer
        writer.send(big, len(big))
        writer.send(b"taken", 5)
        with trio.fail_after(5):
            await writer.close_sent.wait()
    assert read_back(stream) == [msg(big), msg(b"taken"), close]
    assert sent == [len(big), 5]
