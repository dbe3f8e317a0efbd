"""One client library running one workload, in its own process.

    python benchmarks/clients.py CLIENT WORKLOAD URL [--count N]

prints one JSON object (the workload's numbers) on stdout. ``run.py`` starts
this once per (repeat, workload, client), so every measurement gets a fresh
interpreter and RSS is the client's alone. Each workload is bounded in count
(``--count``) and in time (``DEADLINE`` seconds, then it fails loudly).

Clients:

- ``w3cws``: the browser API (``w3cws.WebSocket``);
- ``websockets``: the ``websockets`` library's asyncio client;
- ``trio-websocket``: trio-websocket;
- ``raw``: a hand-written trio + wsproto loop, no API on top;
- ``bare``: the least any client can do, to show what the echo server and
  the kernel allow: blocking sockets, frames built and masked once before
  the clock starts (one masking key for all of them, which a real client
  must not do), no parsing beyond counting bytes. It is not
  a WebSocket client anyone should use; its numbers are the ceiling that
  the ratios of the others should be read against.

All of them send binary messages, ask for no compression and do no keepalive
pings, so the wire traffic is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

DEADLINE = 120.0  # seconds for one workload, whatever its count
SMALL = b"x" * 64  # pipelined and ping-pong messages
BULK = os.urandom(1 << 20)  # the 1 MiB echo
PAGE = os.sysconf("SC_PAGE_SIZE")

Result = dict[str, Any]


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pingpong_result(latencies: list[float], elapsed: float) -> Result:
    return {
        "rt_per_s": len(latencies) / elapsed,
        "p50_us": quantile(latencies, 0.5) * 1e6,
        "p99_us": quantile(latencies, 0.99) * 1e6,
    }


def memory_result(n: int, base: int, loaded: int, elapsed: float) -> Result:
    return {"open_s": elapsed, "kib_per_conn": (loaded - base) / n / 1024, "n": n}


# -- w3cws --


async def w3cws_main(workload: str, url: str, n: int) -> Result:
    import trio

    from w3cws import WebSocket

    async def open_ws() -> tuple[Any, trio.Event]:
        ws = WebSocket(url, deflate=False)
        ws.binaryType = "arraybuffer"
        opened, closed = trio.Event(), trio.Event()
        ws.onopen = lambda e: opened.set()
        ws.onclose = lambda e: (opened.set(), closed.set())
        await opened.wait()
        if ws.readyState != 1:
            raise RuntimeError("w3cws: connection failed")
        return ws, closed

    async def close_ws(ws: Any, closed: trio.Event) -> None:
        ws.close()
        await closed.wait()

    if workload in ("pingpong", "bulk"):
        ws, closed = await open_ws()
        payload = SMALL if workload == "pingpong" else BULK
        latencies: list[float] = []
        done = trio.Event()
        state = {"t0": 0.0, "left": 0}

        def on_message(e: Any) -> None:
            now = time.perf_counter()
            latencies.append(now - state["t0"])
            state["left"] -= 1
            if state["left"] <= 0:
                done.set()
                return
            state["t0"] = time.perf_counter()
            ws.send(payload)

        ws.onmessage = on_message
        for count in (max(2, n // 20), n):  # warm-up, then the measured run
            latencies.clear()
            done = trio.Event()
            state["left"] = count
            start = state["t0"] = time.perf_counter()
            ws.send(payload)
            await done.wait()
            elapsed = time.perf_counter() - start
        await close_ws(ws, closed)
        if workload == "bulk":
            return {"mib_per_s": n / elapsed}
        return pingpong_result(latencies, elapsed)

    if workload == "pipelined":
        ws, closed = await open_ws()
        got = [0]
        done = trio.Event()

        def on_count(e: Any) -> None:
            got[0] += 1
            if got[0] == target[0]:
                done.set()

        ws.onmessage = on_count
        target = [0]
        for count in (max(10, n // 20), n):
            got[0], target[0] = 0, count
            done = trio.Event()
            start = time.perf_counter()
            for _ in range(count):
                ws.send(SMALL)
            await done.wait()
            elapsed = time.perf_counter() - start
        await close_ws(ws, closed)
        return {"msg_per_s": n / elapsed}

    if workload == "connect":
        await close_ws(*await open_ws())  # warm-up
        start = time.perf_counter()
        for _ in range(n):
            await close_ws(*await open_ws())
        return {"conn_per_s": n / (time.perf_counter() - start)}

    if workload == "concurrent":
        await close_ws(*await open_ws())
        gc.collect()
        base = rss()
        start = time.perf_counter()
        sockets = []
        async with trio.open_nursery() as nursery:

            async def one() -> None:
                sockets.append(await open_ws())

            for _ in range(n):
                nursery.start_soon(one)
        elapsed = time.perf_counter() - start
        gc.collect()
        loaded = rss()
        async with trio.open_nursery() as nursery:
            for ws, closed in sockets:
                nursery.start_soon(close_ws, ws, closed)
        return memory_result(n, base, loaded, elapsed)
    raise ValueError(workload)


# -- raw trio + wsproto --


class RawClient:
    """The least a trio + wsproto client needs: handshake, frames, messages."""

    def __init__(self, stream: Any, ws: Any) -> None:
        self.stream = stream
        self.ws = ws
        self.messages: deque[bytes | str] = deque()
        self.parts: list[Any] = []

    @classmethod
    async def connect(cls, url: str) -> RawClient:
        import trio
        from wsproto import WSConnection
        from wsproto.connection import ConnectionType
        from wsproto.events import AcceptConnection, Request

        parts = urlsplit(url)
        stream = await trio.open_tcp_stream(parts.hostname, parts.port)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=parts.netloc, target=parts.path or "/")))
        client = cls(stream, ws)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return client
                raise RuntimeError(f"raw: handshake failed: {event!r}")

    async def send(self, data: bytes) -> None:
        from wsproto.events import Message

        await self.stream.send_all(self.ws.send(Message(data=data)))

    async def recv(self) -> bytes | str:
        from wsproto.events import BytesMessage, TextMessage

        while not self.messages:
            data = await self.stream.receive_some(65536)
            if not data:
                raise RuntimeError("raw: connection lost")
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, BytesMessage | TextMessage):
                    if event.message_finished:
                        if self.parts:
                            self.parts.append(event.data)
                            joined = self.parts[0][:0].join(self.parts)
                            self.parts = []
                            self.messages.append(joined)
                        else:
                            self.messages.append(event.data)
                    else:
                        self.parts.append(event.data)
        return self.messages.popleft()

    async def close(self) -> None:
        from wsproto.events import CloseConnection

        await self.stream.send_all(self.ws.send(CloseConnection(code=1000)))
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                break
            self.ws.receive_data(data)
            for _ in self.ws.events():
                pass
        await self.stream.aclose()


async def raw_main(workload: str, url: str, n: int) -> Result:
    import trio

    if workload in ("pingpong", "bulk"):
        client = await RawClient.connect(url)
        payload = SMALL if workload == "pingpong" else BULK
        latencies: list[float] = []
        for count in (max(2, n // 20), n):
            latencies.clear()
            start = time.perf_counter()
            for _ in range(count):
                t0 = time.perf_counter()
                await client.send(payload)
                await client.recv()
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - start
        await client.close()
        if workload == "bulk":
            return {"mib_per_s": n / elapsed}
        return pingpong_result(latencies, elapsed)

    if workload == "pipelined":
        from wsproto.events import Message

        client = await RawClient.connect(url)
        for count in (max(10, n // 20), n):
            start = time.perf_counter()
            async with trio.open_nursery() as nursery:

                async def sender(count: int = count) -> None:
                    # Every frame serialized, then one write, as a writer
                    # task that batches would do.
                    frames = [client.ws.send(Message(data=SMALL)) for _ in range(count)]
                    await client.stream.send_all(b"".join(frames))

                nursery.start_soon(sender)
                for _ in range(count):
                    await client.recv()
            elapsed = time.perf_counter() - start
        await client.close()
        return {"msg_per_s": n / elapsed}

    if workload == "connect":
        await (await RawClient.connect(url)).close()
        start = time.perf_counter()
        for _ in range(n):
            await (await RawClient.connect(url)).close()
        return {"conn_per_s": n / (time.perf_counter() - start)}

    if workload == "concurrent":
        await (await RawClient.connect(url)).close()
        gc.collect()
        base = rss()
        clients: list[RawClient] = []
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:

            async def one() -> None:
                clients.append(await RawClient.connect(url))

            for _ in range(n):
                nursery.start_soon(one)
        elapsed = time.perf_counter() - start
        gc.collect()
        loaded = rss()
        async with trio.open_nursery() as nursery:
            for client in clients:
                nursery.start_soon(client.close)
        return memory_result(n, base, loaded, elapsed)
    raise ValueError(workload)


# -- bare: the ceiling --


class BareClient:
    """A blocking socket that speaks just enough WebSocket to be echoed."""

    # One masking key for every frame, chosen once. Not zero: a server may
    # skip unmasking for a zero key (Node's ws does), and then this client
    # would measure less server work than the others cause.
    KEY = b"\x5a\xc3\x96\x3c"

    def __init__(self, url: str) -> None:
        import socket

        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.settimeout(DEADLINE)  # bounded, as the other clients are
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(
            b"GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % parts.netloc.encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            if not data:
                raise RuntimeError("bare: handshake failed")
            head += data
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"bare: handshake failed: {head[:40]!r}")

    @classmethod
    def masked(cls, payload: bytes) -> bytes:
        """``payload`` masked with ``KEY`` (RFC 6455 §5.3)."""
        n = len(payload)
        keys = (cls.KEY * (n // 4 + 1))[:n]
        return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
            n, "little"
        )

    @classmethod
    def frame(cls, payload: bytes) -> bytes:
        """A masked binary frame (RFC 6455 §5.2)."""
        n = len(payload)
        if n < 126:
            head = bytes((0x82, 0x80 | n))
        elif n < 0x10000:
            head = bytes((0x82, 0xFE)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x82, 0xFF)) + n.to_bytes(8, "big")
        return head + cls.KEY + cls.masked(payload)

    @staticmethod
    def echo_size(payload: bytes) -> int:
        """Bytes of the server's (unmasked) echo of ``payload``."""
        n = len(payload)
        return n + (2 if n < 126 else 4 if n < 0x10000 else 10)

    def receive(self, size: int) -> None:
        """Read exactly ``size`` bytes."""
        while size > 0:
            data = self.sock.recv(min(size, 1 << 20))
            if not data:
                raise RuntimeError("bare: connection lost")
            size -= len(data)

    def send_while_receiving(self, data: bytes, size: int) -> None:
        """Write ``data`` from a thread while reading ``size`` bytes here,
        so that neither side's buffers can fill up and stall the other."""
        import threading

        writer = threading.Thread(target=self.sock.sendall, args=(data,))
        writer.start()
        self.receive(size)
        writer.join()

    def close(self) -> None:
        self.sock.sendall(b"\x88\x82" + self.KEY + self.masked(b"\x03\xe8"))  # Close 1000
        while self.sock.recv(4096):
            pass
        self.sock.close()


def bare_main(workload: str, url: str, n: int) -> Result:
    if workload in ("pingpong", "bulk"):
        client = BareClient(url)
        payload = SMALL if workload == "pingpong" else BULK
        frame, size = BareClient.frame(payload), BareClient.echo_size(payload)
        latencies: list[float] = []
        for count in (max(2, n // 20), n):
            latencies.clear()
            start = time.perf_counter()
            for _ in range(count):
                t0 = time.perf_counter()
                if workload == "bulk":
                    client.send_while_receiving(frame, size)
                else:
                    client.sock.sendall(frame)
                    client.receive(size)
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - start
        client.close()
        if workload == "bulk":
            return {"mib_per_s": n / elapsed}
        return pingpong_result(latencies, elapsed)

    if workload == "pipelined":
        client = BareClient(url)
        frame, size = BareClient.frame(SMALL), BareClient.echo_size(SMALL)
        for count in (max(10, n // 20), n):
            frames = frame * count
            start = time.perf_counter()
            client.send_while_receiving(frames, size * count)
            elapsed = time.perf_counter() - start
        client.close()
        return {"msg_per_s": n / elapsed}

    if workload == "connect":
        BareClient(url).close()
        start = time.perf_counter()
        for _ in range(n):
            BareClient(url).close()
        return {"conn_per_s": n / (time.perf_counter() - start)}

    if workload == "concurrent":
        BareClient(url).close()
        gc.collect()
        base = rss()
        start = time.perf_counter()
        clients = [BareClient(url) for _ in range(n)]
        elapsed = time.perf_counter() - start
        gc.collect()
        loaded = rss()
        for client in clients:
            client.close()
        return memory_result(n, base, loaded, elapsed)
    raise ValueError(workload)


# -- trio-websocket --


async def trio_websocket_main(workload: str, url: str, n: int) -> Result:
    import trio
    from trio_websocket import connect_websocket_url, open_websocket_url

    opts = {"max_message_size": 2 << 20}
    if workload in ("pingpong", "bulk"):
        payload = SMALL if workload == "pingpong" else BULK
        async with open_websocket_url(url, **opts) as ws:
            latencies: list[float] = []
            for count in (max(2, n // 20), n):
                latencies.clear()
                start = time.perf_counter()
                for _ in range(count):
                    t0 = time.perf_counter()
                    await ws.send_message(payload)
                    await ws.get_message()
                    latencies.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - start
        if workload == "bulk":
            return {"mib_per_s": n / elapsed}
        return pingpong_result(latencies, elapsed)

    if workload == "pipelined":
        async with open_websocket_url(url, **opts) as ws:
            for count in (max(10, n // 20), n):
                start = time.perf_counter()
                async with trio.open_nursery() as nursery:

                    async def sender(count: int = count) -> None:
                        for _ in range(count):
                            await ws.send_message(SMALL)

                    nursery.start_soon(sender)
                    for _ in range(count):
                        await ws.get_message()
                elapsed = time.perf_counter() - start
        return {"msg_per_s": n / elapsed}

    if workload == "connect":
        async with open_websocket_url(url, **opts):
            pass
        start = time.perf_counter()
        for _ in range(n):
            async with open_websocket_url(url, **opts):
                pass
        return {"conn_per_s": n / (time.perf_counter() - start)}

    if workload == "concurrent":
        async with open_websocket_url(url, **opts):
            pass
        gc.collect()
        base = rss()
        async with trio.open_nursery() as nursery:
            conns: list[Any] = []
            start = time.perf_counter()
            async with trio.open_nursery() as opener:

                async def one() -> None:
                    conns.append(await connect_websocket_url(nursery, url, **opts))

                for _ in range(n):
                    opener.start_soon(one)
            elapsed = time.perf_counter() - start
            gc.collect()
            loaded = rss()
            async with trio.open_nursery() as closer:
                for ws in conns:
                    closer.start_soon(ws.aclose)
        return memory_result(n, base, loaded, elapsed)
    raise ValueError(workload)


# -- websockets (asyncio) --


async def websockets_main(workload: str, url: str, n: int) -> Result:
    from websockets.asyncio.client import connect

    opts: dict[str, Any] = {"compression": None, "max_size": None, "ping_interval": None}
    if workload in ("pingpong", "bulk"):
        payload = SMALL if workload == "pingpong" else BULK
        async with connect(url, **opts) as ws:
            latencies: list[float] = []
            for count in (max(2, n // 20), n):
                latencies.clear()
                start = time.perf_counter()
                for _ in range(count):
                    t0 = time.perf_counter()
                    await ws.send(payload)
                    await ws.recv()
                    latencies.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - start
        if workload == "bulk":
            return {"mib_per_s": n / elapsed}
        return pingpong_result(latencies, elapsed)

    if workload == "pipelined":
        async with connect(url, **opts) as ws:
            for count in (max(10, n // 20), n):
                start = time.perf_counter()

                async def sender(count: int = count) -> None:
                    for _ in range(count):
                        await ws.send(SMALL)

                task = asyncio.create_task(sender())
                for _ in range(count):
                    await ws.recv()
                await task
                elapsed = time.perf_counter() - start
        return {"msg_per_s": n / elapsed}

    if workload == "connect":
        async with connect(url, **opts):
            pass
        start = time.perf_counter()
        for _ in range(n):
            async with connect(url, **opts):
                pass
        return {"conn_per_s": n / (time.perf_counter() - start)}

    if workload == "concurrent":
        async with connect(url, **opts):
            pass
        gc.collect()
        base = rss()
        start = time.perf_counter()
        conns = await asyncio.gather(*(connect(url, **opts) for _ in range(n)))
        elapsed = time.perf_counter() - start
        gc.collect()
        loaded = rss()
        await asyncio.gather(*(ws.close() for ws in conns))
        return memory_result(n, base, loaded, elapsed)
    raise ValueError(workload)


# -- entry point --

CLIENTS = ("w3cws", "websockets", "trio-websocket", "raw", "bare")
WORKLOADS = ("pingpong", "pipelined", "bulk", "connect", "concurrent")


def run(client: str, workload: str, url: str, n: int) -> Result:
    runner: Callable[[str, str, int], Awaitable[Result]]
    if client == "websockets":

        async def bounded() -> Result:
            return await asyncio.wait_for(websockets_main(workload, url, n), DEADLINE)

        return asyncio.run(bounded())
    if client == "bare":
        return bare_main(workload, url, n)
    import trio

    runner = {
        "w3cws": w3cws_main,
        "trio-websocket": trio_websocket_main,
        "raw": raw_main,
    }[client]

    async def main() -> Result:
        with trio.fail_after(DEADLINE):
            return await runner(workload, url, n)

    return trio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    result = run(args.client, args.workload, args.url, args.count)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
