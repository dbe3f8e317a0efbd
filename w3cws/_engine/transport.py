"""The byte stream under a WebSocket: TCP, TLS, and the per-host connect lock."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["connecting_slot", "open_stream"]

# RFC 6455 §4.1, client requirement 2: at most one connection per remote host
# may be in the CONNECTING state; later ones wait until it is open or failed.
# Chromium keys this on the resolved address; we key on (host, port) as
# written in the URL, which needs no DNS look-up before queueing.
_connecting: trio.lowlevel.RunVar[dict[tuple[str, int], trio.Lock]] = trio.lowlevel.RunVar(
    "w3cws_connecting"
)


@asynccontextmanager
async def connecting_slot(host: str, port: int) -> AsyncIterator[None]:
    """Hold the one CONNECTING slot for ``(host, port)`` in this trio run."""
    try:
        locks = _connecting.get()
    except LookupError:
        locks = {}
        _connecting.set(locks)
    key = (host, port)
    lock = locks.setdefault(key, trio.Lock())
    try:
        async with lock:
            yield
    finally:
        if not lock.locked() and not lock.statistics().tasks_waiting:
            locks.pop(key, None)


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
    tcp = await trio.open_tcp_stream(host, port)
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
