"""What the WebSocket object itself costs in CPU, without any network traffic.

    python benchmarks/api_costs.py

Microseconds per call, best of 5 repeats: the constructor (its connections
queue behind a loopback listener that never accepts, so no handshake runs),
an attribute assignment on the socket, a handler assignment, and ``send()``
on an open socket (the call only: the data is written after the timed
loop). Used to check that the Python-side checks (argument validation,
warnings for silent no-ops) stay cheap.
"""

from __future__ import annotations

import socket
import time

import trio

from w3cws import WebSocket
from w3cws.testing import Behavior, serve

CONSTRUCTIONS = 2000
ASSIGNMENTS = 200_000
SENDS = 20_000
REPEATS = 5


def handler(event: object) -> None:
    """A handler that is never called."""


async def constructor_cost(url: str) -> float:
    """Best time per ``WebSocket(url)``, in microseconds."""
    best = float("inf")
    for _ in range(REPEATS):
        async with trio.open_nursery() as nursery:
            start = time.perf_counter()
            for _ in range(CONSTRUCTIONS):
                WebSocket(url, nursery=nursery)
            best = min(best, time.perf_counter() - start)
            nursery.cancel_scope.cancel()
    return best / CONSTRUCTIONS * 1e6


async def assignment_costs(url: str) -> tuple[float, float]:
    """Best time per ``ws.binaryType = ...`` and per ``ws.onmessage = ...``, in microseconds."""
    async with trio.open_nursery() as nursery:
        ws = WebSocket(url, nursery=nursery)
        best_binary = best_handler = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _ in range(ASSIGNMENTS):
                ws.binaryType = "arraybuffer"
            best_binary = min(best_binary, time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(ASSIGNMENTS):
                ws.onmessage = handler
            best_handler = min(best_handler, time.perf_counter() - start)
        nursery.cancel_scope.cancel()
    return best_binary / ASSIGNMENTS * 1e6, best_handler / ASSIGNMENTS * 1e6


async def send_cost() -> float:
    """Best time per ``ws.send(64 bytes)`` on an open socket, in microseconds."""
    payload = bytes(64)
    best = float("inf")
    async with serve(Behavior(echo=False)) as server:
        ws = WebSocket(server.url, deflate=False)
        await ws.wait_for("open", timeout=10)
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _ in range(SENDS):
                ws.send(payload)
            best = min(best, time.perf_counter() - start)
            while ws.bufferedAmount:  # let the writer drain between repeats
                await trio.sleep(0.001)
        ws.close()
        await ws.wait_for("close", timeout=10)
    return best / SENDS * 1e6


async def main() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        construct = await constructor_cost(url)
        binary, onmessage = await assignment_costs(url)
    send = await send_cost()
    print(f"WebSocket(url)             {construct:8.2f} us")
    print(f"ws.binaryType = ...        {binary:8.3f} us")
    print(f"ws.onmessage = handler     {onmessage:8.3f} us")
    print(f"ws.send(64 bytes)          {send:8.3f} us")


if __name__ == "__main__":
    trio.run(main)
