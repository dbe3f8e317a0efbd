"""The byte stream under a WebSocket: TCP, TLS, and the per-host connect lock."""

from __future__ import annotations

import ipaddress
import ssl
from collections import deque

import trio

__all__ = ["ConnectingTurn", "open_stream"]

# RFC 6455 §4.1, client requirement 2: at most one connection per remote host
# may be in the CONNECTING state; later ones wait, in the order their
# WebSockets were created, until it is open or failed. Chromium keys this on
# the resolved address; we key on (host, port) as written in the URL, which
# needs no DNS look-up before queueing.
_queues: trio.lowlevel.RunVar[dict[tuple[str, int], deque[ConnectingTurn]]] = trio.lowlevel.RunVar(
    "w3cws_connecting"
)


class ConnectingTurn:
    """A place in the per-host queue of connections waiting to be CONNECTING."""

    def __init__(self, host: str, port: int) -> None:
        """Take a place now (synchronously, in a trio run), behind earlier ones."""
        try:
            queues = _queues.get()
        except LookupError:
            queues = {}
            _queues.set(queues)
        self._key = (host, port)
        self._queue = queues.setdefault(self._key, deque())
        self._queues = queues
        self._ready = trio.Event()
        self._queue.append(self)
        if self._queue[0] is self:
            self._ready.set()

    async def wait(self) -> None:
        """Until every earlier connection to the host is open or failed."""
        if not self._ready.is_set():
            await self._ready.wait()

    def release(self) -> None:
        """Leave the queue (idempotent) and let the next one connect."""
        queue = self._queue
        if self not in queue:
            return
        was_first = queue[0] is self
        queue.remove(self)
        if not queue:
            self._queues.pop(self._key, None)
        elif was_first:
            queue[0]._ready.set()


_default_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context on the system trust store, made once."""
    global _default_context  # noqa: PLW0603 - one shared, lazily built context
    if _default_context is None:
        _default_context = ssl.create_default_context()
    return _default_context


async def open_stream(
    host: str, port: int, *, secure: bool, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    """Open TCP (and TLS with certificate and host name checks for ``wss:``).

    Raises:
        OSError: DNS failure, refused or unreachable.
        trio.BrokenResourceError: TLS handshake failure.
    """
    tcp = await _connect_tcp(host, port)
    if not secure:
        return tcp
    context = ssl_context if ssl_context is not None else default_ssl_context()
    stream = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)
    try:
        await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return stream


async def _connect_tcp(host: str, port: int) -> trio.SocketStream:
    """TCP to ``host``: straight to an IP literal, else through DNS.

    ``trio.open_tcp_stream`` resolves the name and races the addresses
    ("happy eyeballs") in a nursery; an IP literal has one address, so the
    direct connect saves those scheduling rounds on every connection.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return await trio.open_tcp_stream(host, port)
    family = trio.socket.AF_INET6 if address.version == 6 else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)
