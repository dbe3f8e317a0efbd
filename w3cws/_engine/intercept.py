"""The seam for ``w3cws.testing.intercept``: a URL answered in memory, not by the network.

While a route is registered, :func:`~w3cws._engine.transport.open_stream`
returns a :class:`PendingStream` instead of connecting. The engine's first
write on it is the opening handshake request, which names the URL; the first
route that takes that URL supplies an in-memory stream, and when none does
the network connection is made then, as it would have been.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from w3cws._engine.transport import TCPStream

__all__ = ["PendingStream", "Route", "add_route", "remove_route", "routes"]

# Takes the URL of a request; returns the stream that answers it, or None.
Route = Callable[[str], trio.abc.Stream | None]

# Newest first; process-wide, as interception covers every WebSocket made
# while it is active, whichever thread or trio run hosts it.
routes: list[Route] = []


def add_route(route: Route) -> None:
    """Let ``route`` answer the URLs it takes, before the routes added earlier."""
    routes.insert(0, route)


def remove_route(route: Route) -> None:
    """Stop consulting ``route`` (idempotent); open streams stay as they are."""
    if route in routes:
        routes.remove(route)


def request_url(request: bytes, *, secure: bool) -> str:
    """The URL of an opening handshake request, as ``WebSocket.url`` serializes it.

    The request target is the URL's path and query, the ``Host`` header its
    host and explicit port (RFC 6455 §4.1, client requirements 2 and 4).
    """
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    target = head[0].split(" ")[1]
    host = next(
        line.partition(":")[2].strip() for line in head[1:] if line.lower().startswith("host:")
    )
    return f"{'wss' if secure else 'ws'}://{host}{target}"


class PendingStream(trio.abc.AsyncResource):
    """A stream that picks in memory or network on the first write (the request)."""

    __slots__ = ("_connect", "_secure", "_stream")

    def __init__(
        self,
        *,
        secure: bool,
        connect: Callable[[], Awaitable[TCPStream | trio.SSLStream[trio.abc.Stream]]],
    ) -> None:
        self._secure = secure
        self._connect = connect
        self._stream: trio.abc.Stream | TCPStream | trio.SSLStream[trio.abc.Stream] | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data``; the first call chooses where it goes."""
        if self._stream is None:
            url = request_url(bytes(data), secure=self._secure)
            for route in tuple(routes):
                stream = route(url)
                if stream is not None:
                    self._stream = stream
                    break
            else:
                self._stream = await self._connect()
        await self._stream.send_all(data)

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Read from the chosen stream."""
        assert self._stream is not None, "the request is written first"
        return await self._stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        """Close the chosen stream, if any."""
        stream, self._stream = self._stream, None
        if isinstance(stream, trio.abc.AsyncResource):
            await stream.aclose()
        elif stream is not None:
            stream.close()
