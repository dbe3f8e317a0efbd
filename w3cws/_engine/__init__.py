"""The narrow interface between the WebSocket object and the connection engine.

The engine (trio + wsproto) never imports ``_websocket``; it reports what
happens on the wire through an :class:`EngineListener`, which the WebSocket
implements with the WHATWG "feedback from the protocol" steps (WS §4).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from w3cws._engine import limits

if TYPE_CHECKING:
    from http.cookiejar import CookieJar

    from w3cws._engine.proxy import Proxy

__all__ = ["ConnectOptions", "EngineListener"]


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
