"""The interfaces between the WebSocket object and the engine, both ways.

The WebSocket drives an :class:`Engine`; the engine reports to an
:class:`EngineListener` (the WebSocket, or a fake in tests). Neither side
imports the other: both import this module.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from w3cws._engine import limits

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

    from w3cws._engine.diagnostics import Recorder
    from w3cws._engine.proxy import Proxy
    from w3cws._url import WebSocketURL

__all__ = ["ConnectOptions", "Engine", "EngineFactory", "EngineListener"]


class EngineListener(Protocol):
    """What the engine tells the WebSocket; every call happens in the engine task."""

    def _on_established(self, protocol: str, extensions: str) -> None:
        """The opening handshake succeeded (WS §4 "established")."""

    def _on_message(self, data: str | bytes) -> None:
        """A whole message arrived: ``str`` for text, ``bytes`` for binary."""

    def _on_closing_handshake_started(self) -> None:
        """A Close frame was received first (RFC 6455 §7.1.3)."""

    def _on_sent(self, nbytes: int) -> None:
        """``nbytes`` application bytes were handed to the network."""

    def _on_closed(self, *, was_clean: bool, code: int, reason: str, failed: bool) -> None:
        """The connection is closed (WS §4): ``failed`` means it was failed."""

    def _on_discarded(self) -> None:
        """The hosting run ended: the socket is gone, with no further events."""


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything the engine needs beyond the URL; the keyword-only extras."""

    protocols: Sequence[str] = ()
    headers: Sequence[tuple[str, str]] = ()
    origin: str | None = None
    ssl_context: ssl.SSLContext | None = None
    deflate: bool = True
    max_message_size: int = limits.MAX_MESSAGE_SIZE
    max_handshake_size: int = limits.MAX_HANDSHAKE_SIZE
    close_timeout: float = limits.CLOSE_TIMEOUT
    tcp_close_timeout: float = limits.TCP_CLOSE_TIMEOUT
    open_timeout: float = limits.OPEN_TIMEOUT
    # The proxy to tunnel through (already looked up in the environment), or None.
    proxy: Proxy | None = None
    cookies: CookieJar | None = None


class Engine(Protocol):
    """What the WebSocket asks of its engine; each call returns at once.

    The WebSocket calls these on the engine's own thread (through its host),
    and only in the states the standard allows: ``send`` and
    ``start_closing`` once open, ``abort_connecting`` while connecting.
    """

    #: A number that names the connection in logs.
    id: int
    #: What the frame log, the traces and the notebook view read (None: off).
    recorder: Recorder | None

    def send(self, data: str | bytes | memoryview, size: int) -> None:
        """Queue one message of ``size`` application bytes: text for ``str``."""

    def start_closing(self, code: int | None, reason: str) -> None:
        """Start the closing handshake (WS §3.1 close() step 3, established case)."""

    def abort_connecting(self) -> None:
        """Give up the connection attempt (WS §3.1 close() step 3, connecting case)."""

    async def run(self) -> None:
        """The connection's task: runs to the end and reports it; raises nothing."""


#: Makes the engine of a new WebSocket.
EngineFactory = Callable[["WebSocketURL", ConnectOptions, EngineListener], Engine]
