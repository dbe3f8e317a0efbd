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
from w3cws._engine.proxy import Proxy, ProxyError, open_tunnel
from w3cws._url import is_localhost

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

    __slots__ = ("_key", "_queue", "_queues", "_ready", "_released")

    def __init__(self, host: str, port: int) -> None:
        """Take a place now (synchronously, in a trio run), behind earlier ones."""
        try:
            queues = _queues.get()
        except LookupError:
            queues = {}
            _queues.set(queues)
        self._key = (host, port)
        self._queues = queues
        queue = queues.get(self._key)
        if queue is None:
            queue = queues[self._key] = deque()
        queue.append(self)
        self._queue = queue
        # Made only by a turn that has to wait: most connections are first.
        self._ready: trio.Event | None = None
        self._released = False

    async def wait(self) -> None:
        """Until every earlier connection to the host is open or failed."""
        if self._queue[0] is not self:
            ready = self._ready = trio.Event()
            await ready.wait()

    def release(self) -> None:
        """Leave the queue (idempotent) and let the next one connect."""
        if self._released:
            return
        self._released = True
        queue = self._queue
        if queue[0] is self:
            queue.popleft()
            if queue:
                ready = queue[0]._ready
                if ready is not None:
                    ready.set()
        else:
            queue.remove(self)
        if not queue:
            self._queues.pop(self._key, None)


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
        if sock.getblocking():
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

    def receive_now(self, max_bytes: int) -> bytes | None:
        """What the kernel holds now (b"" at EOF), None if nothing; never waits or yields.

        For a read whose answer is most likely there already: it saves the
        scheduler round that ``receive_some`` takes even when data is waiting.

        Raises:
            OSError: the connection was reset or the socket closed.
        """
        try:
            return self._sock.recv(max_bytes)
        except BlockingIOError:
            return None

    def close(self) -> None:
        """Close now; a task waiting on the socket gets ``trio.ClosedResourceError``."""
        if self._sock.fileno() != -1:
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()


# What the engine reads and writes: plain TCP, TLS over a trio stream (TCP,
# or a tunnel through an https:// proxy), or an intercepted in-memory stream.
ByteStream = TCPStream | trio.SSLStream[trio.abc.Stream] | intercept.PendingStream

_default_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context on the system trust store, made once."""
    global _default_context  # noqa: PLW0603 - one shared, lazily built context
    if _default_context is None:
        _default_context = ssl.create_default_context()
    return _default_context


async def _start_tls(
    stream: trio.abc.Stream, host: str, context: ssl.SSLContext
) -> trio.SSLStream[trio.abc.Stream]:
    """TLS over ``stream`` with certificate and host name checks; closes it on failure.

    Raises:
        trio.BrokenResourceError: TLS handshake failure.
    """
    tls: trio.SSLStream[trio.abc.Stream] = trio.SSLStream(
        stream, context, server_hostname=host, https_compatible=True
    )
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return tls


async def open_stream(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: ssl.SSLContext | None,
    proxy: Proxy | None = None,
) -> ByteStream:
    """Open TCP (and TLS with certificate and host name checks for ``wss:``).

    While ``w3cws.testing.intercept`` is active the choice waits for the
    request, which names the whole URL (see :mod:`w3cws._engine.intercept`).

    Raises:
        OSError: DNS failure, refused or unreachable.
        trio.BrokenResourceError: TLS handshake failure.
        ProxyError: the proxy was unreachable, refused, or broke the tunnel.
    """
    if intercept.routes:
        connect = functools.partial(
            _open_network, host, port, secure=secure, ssl_context=ssl_context, proxy=proxy
        )
        return intercept.PendingStream(secure=secure, connect=connect)
    return await _open_network(host, port, secure=secure, ssl_context=ssl_context, proxy=proxy)


async def _open_network(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: ssl.SSLContext | None,
    proxy: Proxy | None,
) -> TCPStream | trio.SSLStream[trio.abc.Stream]:
    """Open TCP, and TLS for ``wss:``.

    With a ``proxy``, TCP (and TLS for an ``https://`` proxy) goes to the
    proxy, which opens a tunnel to ``host:port``; TLS to a ``wss:`` target
    runs inside the tunnel. ``ssl_context`` verifies both.

    Raises:
        OSError: DNS failure, refused or unreachable.
        trio.BrokenResourceError: TLS handshake failure.
        ProxyError: the proxy was unreachable, refused, or broke the tunnel.
    """
    if proxy is not None:
        return await _open_through(proxy, host, port, secure=secure, ssl_context=ssl_context)
    sock = await _connect_tcp(host, port)
    if not secure:
        return TCPStream(sock)
    context = ssl_context if ssl_context is not None else default_ssl_context()
    return await _start_tls(_socket_stream(sock), host, context)


def _socket_stream(sock: socket.socket) -> trio.SocketStream:
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


async def _open_through(
    proxy: Proxy, host: str, port: int, *, secure: bool, ssl_context: ssl.SSLContext | None
) -> TCPStream | trio.SSLStream[trio.abc.Stream]:
    """A stream to ``host:port`` through the tunnel of ``proxy``.

    Raises:
        ProxyError: anything that goes wrong before the tunnel is open.
        trio.BrokenResourceError: the TLS handshake with the target failed.
    """

    def context() -> ssl.SSLContext:
        return ssl_context if ssl_context is not None else default_ssl_context()

    try:
        sock = await _connect_tcp(proxy.host, proxy.port)
    except OSError as exc:
        raise ProxyError(f"could not connect to proxy {proxy}: {describe_os_error(exc)}") from exc
    tunnel: TCPStream | trio.SSLStream[trio.abc.Stream] | None = None
    try:
        if proxy.scheme == "https":
            try:
                tunnel = await _start_tls(_socket_stream(sock), proxy.host, context())
            except trio.BrokenResourceError as exc:
                raise ProxyError(f"TLS to proxy {proxy} failed: {exc.__cause__ or exc}") from exc
        else:
            tunnel = TCPStream(sock)
        try:
            await open_tunnel(tunnel, proxy, host, port)
        except socket.gaierror:
            raise  # the target's name, resolved here for socks4 and socks5
        except (OSError, trio.BrokenResourceError) as exc:
            raise ProxyError(f"proxy {proxy} dropped the connection: {exc}") from exc
    except BaseException:
        if isinstance(tunnel, trio.SSLStream):
            await trio.aclose_forcefully(tunnel)
        sock.close()
        raise
    if not secure:
        return tunnel
    inner = _socket_stream(sock) if isinstance(tunnel, TCPStream) else tunnel
    return await _start_tls(inner, host, context())


def describe_os_error(exc: OSError) -> str:
    """An ``OSError`` of connect or DNS in a few words, as a console says it."""
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return "connection timed out"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"unreachable ({os.strerror(exc.errno)})"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return str(exc) or type(exc).__name__


# Linux creates a socket non-blocking in the same call; 0 where that is not offered.
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)


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
    ``localhost`` and names under ``.localhost`` are loopback without DNS,
    as in browsers (RFC 6761 §6.3): ``::1`` first, as Chromium orders them,
    then ``127.0.0.1`` if that fails. So ``ws://app.localhost:8080`` works
    as it does in a browser.
    """
    if is_localhost(host):
        try:
            return await _connect_ip("::1", socket.AF_INET6, port)
        except OSError:
            return await _connect_ip("127.0.0.1", socket.AF_INET, port)
    family = _ip_family(host)
    if family is None:
        stream = await trio.open_tcp_stream(host, port)
        tsock = stream.socket
        return socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
    return await _connect_ip(host, family, port)


async def _connect_ip(host: str, family: socket.AddressFamily, port: int) -> socket.socket:
    """A connected non-blocking socket to the IP address ``host``."""
    # Non-blocking from creation where the system allows: no separate call.
    sock = socket.socket(family, socket.SOCK_STREAM | _NONBLOCK)
    try:
        if sock.getblocking():
            sock.setblocking(False)
        await trio.lowlevel.checkpoint_if_cancelled()
        address = (host, port)
        err = sock.connect_ex(address)
        if err == errno.EINPROGRESS:
            # A second connect() reports how the first one went: 0 once
            # established, the error if it failed, EALREADY while in progress.
            # Over loopback the TCP handshake has usually completed within
            # the first call, so the request can go out without first
            # waiting a scheduler round for writability.
            err = sock.connect_ex(address)
            if err == errno.EISCONN:
                err = 0
        if err in (errno.EALREADY, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            await trio.lowlevel.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"connect to {host} port {port}: {os.strerror(err)}")
    except BaseException:
        sock.close()
        raise
    return sock
