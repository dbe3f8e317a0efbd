"""Fixtures for whole-WebSocket tests over loopback.

Rules for network tests here: loopback only (127.0.0.1 / ::1), port 0, every
wait bounded with ``trio.fail_after``, and each test decides which side closes
first. Listeners only record; assertions run after the awaited end, because a
listener's exception is reported, never raised.

Two independently written servers play the peer:

* ``w3cws.testing`` (ours, trio + wsproto), scripted with ``Behavior``;
* the ``websockets`` library's threaded server, whose handler picks its
  behaviour from the request path (see :func:`_websockets_handler`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from w3cws import CloseEvent, MessageEvent, WebSocket


@dataclass
class Trace:
    """What a WebSocket's listeners saw, in order."""

    ws: WebSocket
    events: list[tuple[Any, ...]] = field(default_factory=list)
    closed: trio.Event = field(default_factory=trio.Event)
    opened: trio.Event = field(default_factory=trio.Event)

    @property
    def types(self) -> list[str]:
        return [e[0] for e in self.events]

    @property
    def close(self) -> tuple[Any, ...]:
        return next(e for e in self.events if e[0] == "close")

    @property
    def messages(self) -> list[Any]:
        return [e[2] for e in self.events if e[0] == "message"]

    async def wait_closed(self, timeout: float = 5) -> None:
        with trio.fail_after(timeout):
            await self.closed.wait()

    async def wait_open(self, timeout: float = 5) -> None:
        with trio.fail_after(timeout):
            await self.opened.wait()


def trace(ws: WebSocket) -> Trace:
    """Record every event of ``ws`` with the readyState seen at dispatch.

    Entries: ("open", state), ("message", state, data), ("error", state),
    ("close", state, code, reason, wasClean).
    """
    t = Trace(ws)

    def on_event(event: Any) -> None:
        state = ws.readyState
        if isinstance(event, CloseEvent):
            t.events.append(("close", state, event.code, event.reason, event.wasClean))
            t.closed.set()
        elif isinstance(event, MessageEvent):
            t.events.append(("message", state, event.data))
        else:
            t.events.append((event.type, state))
            if event.type == "open":
                t.opened.set()

    for kind in ("open", "message", "error", "close"):
        ws.addEventListener(kind, on_event)
    return t


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_sockets() -> int:
    """Open socket fds of this process (the peer's threads add epoll fds)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


# -- the websockets library as an independent peer ---------------------------


@dataclass
class WebsocketsPeer:
    """A ``websockets`` threaded server and what its connections saw."""

    server: Server
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def record(self, index: int = 0) -> dict[str, Any]:
        """The record of connection ``index`` once its handler has finished."""
        with trio.fail_after(5):
            while len(self.seen) <= index or "done" not in self.seen[index]:
                await trio.sleep(0.005)
        return self.seen[index]


def _websockets_handler(peer: WebsocketsPeer, conn: ServerConnection) -> None:
    """Behaviour by path: /echo, /close/CODE/REASON, /close-empty,
    /fragments, /ping, /send/TEXT (then echo)."""
    assert conn.request is not None
    path = conn.request.path
    record: dict[str, Any] = {
        "path": path,
        "headers": list(conn.request.headers.raw_items()),
        "messages": [],
        "pongs": 0,
    }
    peer.seen.append(record)
    parts = [unquote(p) for p in path.strip("/").split("/")]
    try:
        if parts[0] == "close":
            conn.close(int(parts[1]), parts[2] if len(parts) > 2 else "")
        elif parts[0] == "close-empty":
            conn.protocol.send_close()
            conn.send_data()
            conn.recv_events_thread.join(2)
        elif parts[0] == "fragments":
            conn.send(["frag", "men", "ted"])
            conn.send([b"\x00", b"\x01", b"\x02"])
        elif parts[0] == "ping":
            conn.ping(b"hi").wait(2)
            record["pongs"] += 1
        elif parts[0] == "send":
            conn.send(parts[1])
        for message in conn:
            record["messages"].append(message)
            conn.send(message)
    except ConnectionClosed:
        pass
    finally:
        rcvd = conn.protocol.close_rcvd
        record["close"] = None if rcvd is None else (rcvd.code, rcvd.reason)
        record["done"] = True


@pytest.fixture
def websockets_peer() -> Iterator[WebsocketsPeer]:
    holder: list[WebsocketsPeer] = []
    server = serve(
        lambda conn: _websockets_handler(holder[0], conn),
        "127.0.0.1",
        0,
        subprotocols=None,
        select_subprotocol=lambda conn, offered: offered[0] if offered else None,
        compression="deflate",
    )
    peer = WebsocketsPeer(server, server.socket.getsockname()[1])
    holder.append(peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield peer
    server.shutdown()
    thread.join(5)


async def sockets_back_to(before: int, timeout: float = 2) -> int:
    """The open socket count once it is back to ``before`` (or after ``timeout``).

    A peer in another thread (the ``websockets`` server) closes its side a
    moment after the client saw the close, so the count is polled; a real
    leak stays and fails the caller's assertion.
    """
    with trio.move_on_after(timeout):
        while open_sockets() > before:
            await trio.sleep(0.01)
    return open_sockets()


# -- raw servers for misbehaviour --------------------------------------------


@asynccontextmanager
async def raw_server(
    handler: Callable[[trio.SocketStream], Awaitable[None]],
) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1 for the block; yields the ws:// base URL."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


def accept_response(request: bytes, extra: bytes = b"") -> bytes:
    """A correct 101 response to ``request`` (RFC 6455 §4.2.2), plus ``extra`` headers."""
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n"
    )


async def read_request(stream: trio.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = False
) -> bytes:
    """One server-to-client frame (RFC 6455 §5.2), unmasked unless asked."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split (and unmask) whole frames: [(opcode, payload), ...]."""
    frames = []
    while len(data) >= 2:
        opcode, n, masked = data[0] & 0x0F, data[1] & 0x7F, data[1] & 0x80
        i = 2
        if n == 126:
            n, i = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, i = int.from_bytes(data[2:10], "big"), 10
        key = data[i : i + 4] if masked else b"\0\0\0\0"
        i += 4 if masked else 0
        if len(data) < i + n:
            break
        payload = bytes(b ^ key[j % 4] for j, b in enumerate(data[i : i + n]))
        frames.append((opcode, payload))
        data = data[i + n :]
    return frames


async def read_until_closed(
    stream: trio.abc.Stream, limit: float = 5, *, echo_close: bool = True
) -> bytes:
    """Everything the client sends until it closes TCP or sends Close (bounded).

    On the client's Close, answer it with the same body (unless
    ``echo_close`` is False, when the server sent its own Close first) and
    return, so the caller closes TCP first, as RFC 6455 §7.1.1 asks.
    """
    data = b""
    with trio.move_on_after(limit):
        try:
            while chunk := await stream.receive_some(65536):
                data += chunk
                closes = [p for op, p in parse_frames(data) if op == 0x8]
                if closes:
                    if echo_close:
                        await stream.send_all(frame(0x8, closes[0]))
                    break
        except trio.BrokenResourceError:
            pass
    return data
