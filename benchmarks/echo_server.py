"""Fallback echo server (the ``websockets`` library) when Node is missing.

Same contract as echo_server.js: loopback, port printed on stdout, every
message echoed as it came, no compression; stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    async with serve(
        echo,
        "127.0.0.1",
        0,
        compression=None,
        max_size=64 * 2**20,
        ping_interval=None,
        backlog=2048,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
