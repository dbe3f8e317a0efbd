"""Per-frame costs of the engine's two frame codecs, without sockets (CPU only).

    python benchmarks/micro.py

The wsproto codec (``w3cws._engine.wsproto_codec``, wsproto's public API)
against our fast codec (``w3cws._engine.fast_codec``) for the frame work of
the benchmark's messages, without and with permessage-deflate (64-byte
messages compressed with context takeover); and the cost of one message
event dispatched to one listener. Best of 5; microseconds per frame.
"""

from __future__ import annotations

import os
import timeit
import zlib
from collections.abc import Callable

import trio

from w3cws import WebSocket
from w3cws._engine.codec import FrameCodec
from w3cws._engine.deflate import ChromiumDeflate
from w3cws._engine.fast_codec import FastCodec
from w3cws._engine.wsproto_codec import WsprotoCodec


def best(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def server_frame(payload: bytes, first: int = 0x82) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((first, n))
    elif n < 65536:
        head = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + n.to_bytes(8, "big")
    return head + payload


def compressed_frames(payload: bytes, n: int) -> bytes:
    """``n`` messages as a server with context takeover compresses them (RFC 7692 §7.2.1)."""
    compressor = zlib.compressobj(wbits=-15)
    out = b""
    for _ in range(n):
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        out += server_frame(data[:-4], 0xC2)  # RSV1: compressed (RFC 7692 §6)
    return out


def wsproto_deflate_codec() -> WsprotoCodec:
    deflate = ChromiumDeflate()
    deflate.finalize("permessage-deflate")
    return WsprotoCodec(deflate=deflate)


def fast_deflate_codec() -> FastCodec:
    deflate = ChromiumDeflate()
    deflate.finalize("permessage-deflate")
    return FastCodec(deflate=deflate.parameters())


def main() -> None:
    small = b"x" * 64
    big = os.urandom(1 << 20)
    frames = b"".join(server_frame(small) for _ in range(1000))
    slices = [frames[i : i + 65536] for i in range(0, len(frames), 65536)]
    big_frame = server_frame(big)
    big_slices = [big_frame[i : i + 65536] for i in range(0, len(big_frame), 65536)]
    deflated = compressed_frames(small, 1000)

    def receive(make: Callable[[], FrameCodec], chunks: list[bytes]) -> None:
        codec = make()
        for chunk in chunks:
            codec.receive(chunk)

    def send(make: Callable[[], FrameCodec], payload: bytes, n: int) -> None:
        codec = make()
        out = bytearray()
        for _ in range(n):
            codec.append_message(out, payload)

    rows = [
        (
            "receive 64 B frame (64 KiB reads)",
            best(lambda: receive(WsprotoCodec, slices), 20) / 1000,
            best(lambda: receive(FastCodec, slices), 20) / 1000,
        ),
        (
            "send 64 B frame (batch of 1000)",
            best(lambda: send(WsprotoCodec, small, 1000), 20) / 1000,
            best(lambda: send(FastCodec, small, 1000), 20) / 1000,
        ),
        (
            "receive 1 MiB frame (64 KiB reads)",
            best(lambda: receive(WsprotoCodec, big_slices), 10),
            best(lambda: receive(FastCodec, big_slices), 10),
        ),
        (
            "send 1 MiB frame (mask + header)",
            best(lambda: send(WsprotoCodec, big, 1), 10),
            best(lambda: send(FastCodec, big, 1), 10),
        ),
        (
            "deflate: receive 64 B message",
            best(lambda: receive(wsproto_deflate_codec, [deflated]), 20) / 1000,
            best(lambda: receive(fast_deflate_codec, [deflated]), 20) / 1000,
        ),
        (
            "deflate: send 64 B message",
            best(lambda: send(wsproto_deflate_codec, small, 1000), 20) / 1000,
            best(lambda: send(fast_deflate_codec, small, 1000), 20) / 1000,
        ),
    ]
    print(f"{'per frame':40} {'wsproto µs':>12} {'fast µs':>12} {'ratio':>6}")
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
