"""Per-frame costs of the engine's pieces, without sockets (CPU only).

    python benchmarks/micro.py

wsproto's high-level Connection against w3cws._engine.fastpath, for the
frame work of the benchmark's messages, and the cost of one message event
dispatched to one listener. Best of 5; microseconds per frame.
"""

from __future__ import annotations

import os
import timeit

import trio
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Message
from wsproto.frame_protocol import FrameProtocol

from w3cws import WebSocket
from w3cws._engine.fastpath import FastClientConnection
from w3cws._engine.tap import CloseCodeTap


def best(fn: object, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number  # type: ignore[arg-type]


def main() -> None:
    small = b"x" * 64
    big = os.urandom(1 << 20)
    server = FrameProtocol(client=False, extensions=[])
    frames = b"".join(server.send_data(small) for _ in range(1000))
    slices = [frames[i : i + 65536] for i in range(0, len(frames), 65536)]
    big_frame = bytes(server.send_data(big))
    big_slices = [big_frame[i : i + 65536] for i in range(0, len(big_frame), 65536)]
    rows = []

    def ws_recv(chunks: list[bytes]) -> None:
        conn = Connection(ConnectionType.CLIENT, [CloseCodeTap()])
        for chunk in chunks:
            conn.receive_data(chunk)
            for _ in conn.events():
                pass

    def fast_recv(chunks: list[bytes]) -> None:
        conn = FastClientConnection([CloseCodeTap()])
        for chunk in chunks:
            conn.receive_data(chunk)
            conn.items()

    def ws_send(payload: bytes, n: int) -> None:
        conn = Connection(ConnectionType.CLIENT, [CloseCodeTap()])
        b"".join([conn.send(Message(data=payload)) for _ in range(n)])

    def fast_send(payload: bytes, n: int) -> None:
        conn = FastClientConnection([CloseCodeTap()])
        out = bytearray()
        for _ in range(n):
            conn.append_message(out, payload)

    rows.append(
        (
            "receive 64 B frame (64 KiB reads)",
            best(lambda: ws_recv(slices), 20) / 1000,
            best(lambda: fast_recv(slices), 20) / 1000,
        )
    )
    rows.append(
        (
            "send 64 B frame (batch of 1000)",
            best(lambda: ws_send(small, 1000), 20) / 1000,
            best(lambda: fast_send(small, 1000), 20) / 1000,
        )
    )
    rows.append(
        (
            "receive 1 MiB frame (64 KiB reads)",
            best(lambda: ws_recv(big_slices), 10),
            best(lambda: fast_recv(big_slices), 10),
        )
    )
    rows.append(
        (
            "send 1 MiB frame (mask + header)",
            best(lambda: ws_send(big, 1), 10),
            best(lambda: fast_send(big, 1), 10),
        )
    )
    print(f"{'per frame':40} {'wsproto µs':>12} {'fastpath µs':>12} {'ratio':>6}")
    for name, a, b in rows:
        print(f"{name:40} {a * 1e6:12.2f} {b * 1e6:12.2f} {a / b:6.1f}")

    async def dispatch() -> float:
        ws = WebSocket("ws://127.0.0.1:9/", deflate=False)
        ws._set_state(1)  # pretend OPEN: no socket is used here
        ws.binaryType = "arraybuffer"
        ws.onmessage = lambda e: None
        return best(lambda: ws._on_message(small), 20000)

    cost = trio.run(dispatch)
    print(f"{'message event (create + dispatch)':40} {cost * 1e6:12.2f}")


if __name__ == "__main__":
    main()
