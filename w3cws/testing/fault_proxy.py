"""``FaultProxy``: a loopback TCP proxy that puts network faults between a client and a server.

Theory of operation
-------------------
``async with FaultProxy(target_url) as proxy`` listens on loopback; each
connection to ``proxy.url`` gets a TCP connection to the target and two
one-way pipes, client to server and server to client. A pipe is two tasks: a
reader that stamps each chunk it reads with its delivery time (now plus
``latency``) and queues it, and a writer that waits for that time, then
writes the chunk in slices of at most ``chunk_size`` bytes, pausing after each
so that at most ``bandwidth`` bytes a second go out. Chunks keep their order,
so latency delays a stream without reordering it.

The faults are plain attributes read at the moment they apply, so a test may
change them while connections run: ``latency``, ``bandwidth`` and
``chunk_size`` for what is read from then on, ``blackhole`` (data read is
discarded, connections stay open) and ``reset_after`` (a connection is
reset once that many bytes went through it, both ways counted). ``cut()``
resets every connection now, ``half_close()`` ends the server-to-client
direction with a FIN while the other still flows.

TLS passes through as bytes: for a ``wss://`` target the client must accept
the target's certificate for the proxy's address.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType

import trio

from w3cws._url import parse_websocket_url

__all__ = ["FaultProxy", "run_command"]

_RECEIVE_SIZE = 65536
_log = logging.getLogger("w3cws.testing")


def _reset(stream: trio.SocketStream) -> None:
    """Make the coming close send an RST (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Link:
    """One proxied connection: the client's stream, the target's, and two pipes."""

    def __init__(
        self, proxy: FaultProxy, client: trio.SocketStream, server: trio.SocketStream
    ) -> None:
        self._proxy = proxy
        self.client = client
        self.server = server
        self.forwarded = 0
        self.scope = trio.CancelScope()
        # Cancelling it stops reading from the server: half_close().
        self._from_server = trio.CancelScope()
        self._aborted = False

    async def run(self) -> None:
        """Forward both ways until both directions end, or until a reset."""
        try:
            with self.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pipe, self.client, self.server, trio.CancelScope())
                    nursery.start_soon(self._pipe, self.server, self.client, self._from_server)
        finally:
            if self._aborted:
                _reset(self.client)
                _reset(self.server)
            await trio.aclose_forcefully(self.client)
            await trio.aclose_forcefully(self.server)

    def reset(self) -> None:
        """Abort both TCP connections with an RST."""
        self._aborted = True
        self.scope.cancel()

    def half_close(self) -> None:
        """End the server-to-client direction: what was read is delivered, then a FIN."""
        self._from_server.cancel()

    async def _pipe(
        self, source: trio.SocketStream, sink: trio.SocketStream, reading: trio.CancelScope
    ) -> None:
        proxy = self._proxy
        send, receive = trio.open_memory_channel[tuple[float, bytes]](math.inf)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deliver, receive, sink)
            with send, reading:
                while True:
                    try:
                        data = await source.receive_some(_RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        # The source was reset: so is the other side.
                        self.reset()
                        return
                    if not data:
                        break
                    if not proxy.blackhole:
                        try:
                            send.send_nowait((trio.current_time() + proxy.latency, data))
                        except trio.BrokenResourceError:
                            return  # the writer stopped: the link is being reset

    async def _deliver(
        self, receive: trio.MemoryReceiveChannel[tuple[float, bytes]], sink: trio.SocketStream
    ) -> None:
        proxy = self._proxy
        with receive:
            async for deliver_at, data in receive:
                await trio.sleep_until(deliver_at)
                view = memoryview(data)
                while view:
                    size = min(len(view), proxy.chunk_size or len(view))
                    if proxy.reset_after is not None:
                        size = min(size, proxy.reset_after - self.forwarded)
                    if size > 0:
                        try:
                            await sink.send_all(view[:size])
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            self.reset()
                            return
                        self.forwarded += size
                        view = view[size:]
                    if proxy.reset_after is not None and self.forwarded >= proxy.reset_after:
                        self.reset()
                        return
                    if proxy.bandwidth:
                        await trio.sleep(size / proxy.bandwidth)
        # The source ended (or half_close()): pass the FIN on.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await sink.send_eof()


class FaultProxy:
    """A loopback TCP proxy in front of ``target_url`` that injects network faults.

    Every argument is also an attribute that may change while the proxy runs.

    Args:
        target_url: the ``ws://`` or ``wss://`` server to forward to.
        latency: seconds added to every chunk, each direction.
        bandwidth: at most this many bytes a second, each direction and
            connection; ``None`` for no limit.
        chunk_size: write at most this many bytes at a time (``1`` slices a
            stream into one-byte TCP segments); ``None`` forwards chunks whole.
        reset_after: reset a connection (RST both ways) once this many bytes
            went through it, both directions counted.
        blackhole: discard everything read, keeping connections open.
        host: the loopback address to listen on.

    Attributes:
        connections: how many connections were accepted so far.
    """

    def __init__(
        self,
        target_url: str,
        *,
        latency: float = 0.0,
        bandwidth: float | None = None,
        chunk_size: int | None = None,
        reset_after: int | None = None,
        blackhole: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        target = parse_websocket_url(target_url)
        if latency < 0 or not math.isfinite(latency):
            raise ValueError(f"latency must be a number of seconds >= 0, not {latency!r}")
        if bandwidth is not None and not bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0 bytes a second, not {bandwidth!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, not {chunk_size!r}")
        if reset_after is not None and reset_after < 0:
            raise ValueError(f"reset_after must be >= 0, not {reset_after!r}")
        self.latency = latency
        self.bandwidth = bandwidth
        self.chunk_size = chunk_size
        self.reset_after = reset_after
        self.blackhole = blackhole
        self.connections = 0
        self._target = target
        self._host = host
        self._url: str | None = None
        self._links: set[_Link] = set()
        self._running_cm: contextlib.AbstractAsyncContextManager[None] | None = None

    @property
    def url(self) -> str:
        """The URL clients use: the target's scheme, path and query on the proxy's address.

        Raises:
            RuntimeError: outside ``async with``.
        """
        if self._url is None:
            raise RuntimeError("the FaultProxy is not running; use it in 'async with'")
        return self._url

    def cut(self) -> None:
        """Reset every open connection now (an RST to both sides)."""
        for link in tuple(self._links):
            link.reset()

    def half_close(self) -> None:
        """Send a FIN to every connected client; what the client sends still flows."""
        for link in tuple(self._links):
            link.half_close()

    async def __aenter__(self) -> FaultProxy:
        if self._running_cm is not None:
            raise RuntimeError("this FaultProxy is already running")
        running = self._running()
        await running.__aenter__()
        self._running_cm = running
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        running, self._running_cm = self._running_cm, None
        if running is not None:
            await running.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        listeners = await trio.open_tcp_listeners(0, host=self._host)
        listener, extra = listeners[0], listeners[1:]
        for other in extra:
            await other.aclose()
        port = listener.socket.getsockname()[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        target = self._target
        # As Server.url, a bare "/" is left out, so that proxy.url + "/path" works.
        path = "" if target.resource_name == "/" else target.resource_name
        self._url = f"{'wss' if target.secure else 'ws'}://{host}:{port}{path}"
        try:
            async with listener, trio.open_nursery() as nursery:
                nursery.start_soon(self._accept, listener, nursery)
                try:
                    yield
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self._url = None

    async def _accept(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            client = await listener.accept()
            self.connections += 1
            nursery.start_soon(self._serve, client)

    async def _serve(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream(self._target.host, self._target.port)
        except OSError:
            # The target is down: the client sees its connection reset.
            _reset(client)
            await trio.aclose_forcefully(client)
            return
        link = _Link(self, client, server)
        self._links.add(link)
        try:
            await link.run()
        except Exception:
            # One broken connection must not stop the proxy.
            _log.exception("FaultProxy connection failed")
        finally:
            self._links.discard(link)


def run_command(
    target_url: str,
    *,
    say: Callable[[str], None],
    host: str = "127.0.0.1",
    latency: float = 0.0,
    bandwidth: float | None = None,
    chunk_size: int | None = None,
    reset_after: int | None = None,
) -> int:
    """``w3cws proxy``: run a FaultProxy until Ctrl-C, first saying where it listens.

    Returns:
        The exit status (it returns only if the proxy stops on its own).

    Raises:
        ValueError: a fault value out of range.
        KeyboardInterrupt: Ctrl-C.
    """
    proxy = FaultProxy(
        target_url,
        latency=latency,
        bandwidth=bandwidth,
        chunk_size=chunk_size,
        reset_after=reset_after,
        host=host,
    )

    async def run() -> None:
        async with proxy:
            say(f"proxying {proxy.url} -> {target_url}")
            await trio.sleep_forever()

    trio.run(run)
    return 0
