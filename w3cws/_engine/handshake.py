"""The opening handshake, client side (RFC 6455 §4.1, WS §2.2), on h11.

wsproto's own client handshake accepts a malformed permessage-deflate answer
and hides the raw extension header that ``ws.extensions`` must show, so the
request and the response checks live here, on h11 (which wsproto uses
itself); wsproto takes over for the frames once the handshake has succeeded.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import h11
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionType
from wsproto.extensions import Extension

from w3cws._engine import ConnectOptions
from w3cws._engine.deflate import ChromiumDeflate
from w3cws._engine.fastpath import FastClientConnection
from w3cws._engine.tap import InboundTap
from w3cws._url import WebSocketURL

__all__ = ["HandshakeFailed", "Opened", "OpeningHandshake"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_USER_AGENT = b"w3cws (Python; trio; wsproto)"


class HandshakeFailed(Exception):
    """The response does not establish a WebSocket connection (fail it)."""


@dataclass(slots=True)
class Opened:
    """The result of a successful handshake."""

    protocol: str
    extensions: str
    connection: WsprotoConnection
    tap: InboundTap
    deflate: bool


def _split_tokens(values: Sequence[bytes]) -> list[str]:
    return [p.strip() for v in values for p in v.decode("latin-1").split(",") if p.strip()]


class OpeningHandshake:
    """Build the request, then check the response step by step.

    Args:
        url: the WebSocket URL.
        options: protocols, headers, origin and whether to offer deflate.
        max_response_size: bound on the response head, in bytes.
    """

    def __init__(self, url: WebSocketURL, options: ConnectOptions, max_response_size: int) -> None:
        self._options = options
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_response_size)
        self._max_response_size = max_response_size
        self._received = 0
        self._key = base64.b64encode(os.urandom(16))
        headers: list[tuple[bytes, bytes]] = [
            (b"Host", url.host_header.encode("ascii")),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", self._key),
            (b"Sec-WebSocket-Version", b"13"),
            # What Fetch adds for cache mode "no-store" (WS §2.2).
            (b"Pragma", b"no-cache"),
            (b"Cache-Control", b"no-cache"),
            (b"User-Agent", _USER_AGENT),
        ]
        if options.protocols:
            # One header, values joined by ", " in the given order (WS §2.2 step 5).
            headers.append((b"Sec-WebSocket-Protocol", ", ".join(options.protocols).encode()))
        if options.deflate:
            headers.append(
                (b"Sec-WebSocket-Extensions", b"permessage-deflate; " + ChromiumDeflate.OFFER)
            )
        if options.origin is not None:
            headers.append((b"Origin", options.origin.encode("latin-1")))
        user = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in options.headers]
        overridden = {k.lower() for k, _ in user}
        headers = [h for h in headers if h[0].lower() not in overridden or h[0] == b"Host"]
        self.request = (
            self._h11.send(
                h11.Request(
                    method="GET", target=url.resource_name.encode("ascii"), headers=headers + user
                )
            )
            or b""
        )

    def receive(self, data: bytes | bytearray) -> Opened | None:
        """Feed response bytes (b"" at EOF); the result once the head is complete.

        Raises:
            HandshakeFailed: any reason the handshake does not succeed.
        """
        self._received += len(data)
        self._h11.receive_data(bytes(data))
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise HandshakeFailed(f"malformed HTTP response: {exc}") from None
        if event is h11.NEED_DATA:
            if not data:
                raise HandshakeFailed("the server closed the connection during the handshake")
            return None
        if isinstance(event, h11.ConnectionClosed):
            raise HandshakeFailed("the server closed the connection during the handshake")
        if not isinstance(event, h11.InformationalResponse | h11.Response):
            raise HandshakeFailed(f"unexpected HTTP event {event!r}")
        # WS §2.2 step 11 / RFC 6455 §4.1: anything but 101 (redirects included,
        # redirect mode "error") fails.
        if event.status_code != 101:
            raise HandshakeFailed(f"the server answered with HTTP status {event.status_code}")
        # h11 bounds only a head still incomplete; one that came whole in a
        # read is measured here (what is left over are frames).
        head = self._received - len(self._h11.trailing_data[0])
        if head > self._max_response_size:
            raise HandshakeFailed(f"the response head is {head} bytes, over max_handshake_size")
        return self._check(event)

    def _check(self, response: h11.InformationalResponse | h11.Response) -> Opened:
        fields: dict[bytes, list[bytes]] = {}
        for name, value in response.headers:
            fields.setdefault(bytes(name).lower(), []).append(bytes(value))
        # RFC 6455 §4.1, client checks 2-4.
        if [v.lower() for v in fields.get(b"upgrade", [])] != [b"websocket"]:
            raise HandshakeFailed("the response has no 'Upgrade: websocket'")
        if "upgrade" not in (t.lower() for t in _split_tokens(fields.get(b"connection", []))):
            raise HandshakeFailed("the response has no 'Connection: Upgrade'")
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        if fields.get(b"sec-websocket-accept") != [expected]:
            raise HandshakeFailed("wrong Sec-WebSocket-Accept")
        protocol = self._check_protocol(fields.get(b"sec-websocket-protocol"))
        extensions, deflate = self._check_extensions(fields.get(b"sec-websocket-extensions", []))
        tap = InboundTap(self._options.max_message_size)
        active: list[Extension] = [deflate, tap] if deflate is not None else [tap]
        trailing, _closed = self._h11.trailing_data
        connection: WsprotoConnection
        if deflate is None:
            # No extension to run: the fast path does the frame work itself.
            connection = FastClientConnection(
                active, bytes(trailing), max_message_size=self._options.max_message_size
            )
        else:
            connection = WsprotoConnection(ConnectionType.CLIENT, active, bytes(trailing))
        return Opened(protocol, extensions, connection, tap, deflate is not None)

    def _check_protocol(self, values: list[bytes] | None) -> str:
        offered = self._options.protocols
        if values is None:
            # WS §2.2 step 10 (a WHATWG addition): protocols were requested
            # but the server selected none -> fail.
            if offered:
                raise HandshakeFailed("protocols were requested but the server selected none")
            return ""
        value = b",".join(values).decode("latin-1").strip()
        # RFC 6455 §4.1 check 6: only a value the client offered.
        if value not in offered:
            raise HandshakeFailed(f"the server selected a protocol that was not offered: {value!r}")
        return value

    def _check_extensions(self, values: list[bytes]) -> tuple[str, ChromiumDeflate | None]:
        elements = _split_tokens(values)
        if not elements:
            return "", None
        deflate = ChromiumDeflate()
        for element in elements:
            name = element.split(";", 1)[0].strip()
            # RFC 6455 §4.1 check 5: only extensions that were offered.
            if name != "permessage-deflate" or not self._options.deflate:
                raise HandshakeFailed(
                    f"the server selected an extension that was not offered: {name!r}"
                )
            error = deflate.accept_response(element)
            if error:
                raise HandshakeFailed(error)
        return ", ".join(elements), deflate
