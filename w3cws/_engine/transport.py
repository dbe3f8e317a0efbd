"""The byte stream under a WebSocket: TCP, TLS, and the per-host connect lock."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import ssl
from collections import deque

import trio

from w3cws._engine import intercept

__all__ = ["ByteStream", "ConnectingTurn", "TCPStream", "open_stream"]

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


class TCPStream:
    """Plain TCP on a non-blocking socket, driven by trio's I/O waits.

    ``trio.SocketStream`` does the same through several layers and yields to
    the scheduler after every successful write. The engine's only writer is a
    task that yields at its own wakeup wait, so here a write the kernel takes
    at once returns without a scheduler round: one task switch less per
    message sent, and less interpreter work per read and write.
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        # As trio.SocketStream: no Nagle delay for small frames, and a
        # bounded unsent queue so writability means "the peer is reading".
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_NOTSENT_LOWAT"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 2**14)
        self._sock = sock

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``, waiting only while the kernel's buffer is full.

        Raises:
            OSError: the connection was reset or the socket closed.
        """
        sock = self._sock
        with memoryview(data) as view:
            sent, total = 0, len(view)
            while sent < total:
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)

    def send_now(self, data: bytes | bytearray | memoryview) -> int:
        """Write what the kernel takes without waiting; how many bytes that was.

        Raises:
            OSError: the connection was reset or the socket closed.
        """
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    async def receive_some(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes, b"" at EOF; a checkpoint, like trio's.

        Raises:
            OSError: the connection was reset or the socket closed.
        """
        sock = self._sock
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = sock.recv(max_bytes)
        except BlockingIOError:
            pass
        else:
            # Data was already there: still let other tasks run, keeping it
            # even if this task is cancelled meanwhile.
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                return sock.recv(max_bytes)
            except BlockingIOError:
                pass

    def close(self) -> None:
        """Close now; a task waiting on the socket gets ``trio.ClosedResourceError``."""
        if self._sock.fileno() != -1:
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()


# What the engine reads and writes: plain TCP, or TLS over trio's TCP stream.
ByteStream = TCPStream | trio.SSLStream[trio.SocketStream] | intercept.PendingStream

_default_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context on the system trust store, made once."""
    global _default_context  # noqa: PLW0603 - one shared, lazily built context
    if _default_context is None:
        _default_context = ssl.create_default_context()
    return _default_context


async def open_stream(
    host: str, port: int, *, secure: bool, ssl_context: ssl.SSLContext | None
) -> ByteStream:
    """Open TCP (and TLS with certificate and host name checks for ``wss:``).

    While ``w3cws.testing.intercept`` is active the choice waits for the
    request, which names the whole URL (see :mod:`w3cws._engine.intercept`).

    Raises:
        OSError: DNS failure, refused or unreachable.
        trio.BrokenResourceError: TLS handshake failure.
    """
    if intercept.routes:
        connect = functools.partial(
            _open_network, host, port, secure=secure, ssl_context=ssl_context
        )
        return intercept.PendingStream(secure=secure, connect=connect)
    return await _open_network(host, port, secure=secure, ssl_context=ssl_context)


async def _open_network(
    host: str, port: int, *, secure: bool, ssl_context: ssl.SSLContext | None
) -> TCPStream | trio.SSLStream[trio.SocketStream]:
    """Open TCP, and TLS for ``wss:``.

    Raises:
        OSError: DNS failure, refused or unreachable.
        trio.BrokenResourceError: TLS handshake failure.
    """
    sock = await _connect_tcp(host, port)
    if not secure:
        return TCPStream(sock)
    tcp = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    context = ssl_context if ssl_context is not None else default_ssl_context()
    stream = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)
    try:
        await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return stream


def _ip_family(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for an IP literal (as the URL parser writes it), else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


async def _connect_tcp(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to ``host``: straight to an IP literal, else through DNS.

    ``trio.open_tcp_stream`` resolves the name and races the addresses
    ("happy eyeballs") in a nursery; an IP literal has one address, so the
    direct connect saves those scheduling rounds on every connection.
    """
    family = _ip_family(host)
    if family is None:
        stream = await trio.open_tcp_stream(host, port)
        tsock = stream.socket
        return socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await trio.lowlevel.checkpoint_if_cancelled()
        err = sock.connect_ex((host, port))
        if err in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            await trio.lowlevel.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"connect to {host} port {port}: {os.strerror(err)}")
    except BaseException:
        sock.close()
        raise
    return sock
