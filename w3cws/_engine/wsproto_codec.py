"""The frame codec built on wsproto's public API, for every connection.

wsproto is the reference for the wire format: this codec drives a
``wsproto.connection.Connection`` through its documented interface only
(``receive_data``, ``events``, ``send``, ``state``, and the ``Extension``
hooks for the :class:`~w3cws._engine.tap.InboundTap` and permessage-deflate).
It serves connections with permessage-deflate, and every connection when
``W3CWS_CODEC=wsproto`` is set (see :mod:`w3cws._engine.codec`).

What wsproto leaves to us, and this adapter adds:

- whole messages: wsproto hands out pieces; the shared
  :class:`~w3cws._engine.codec.MessageAssembler` joins them;
- the received Close frame is judged by :mod:`w3cws._close_codes` (the
  tap sees its raw payload), as in the fast codec: wsproto would refuse
  1014, which IANA registered;
- failure reasons in Chromium's words instead of wsproto's parser messages
  (the code stays wsproto's, RFC 6455 §7.4.1).
"""

from __future__ import annotations

from collections.abc import Iterator

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason

from w3cws._close_codes import InvalidCloseFrame, close_payload, parse_close_payload
from w3cws._engine import limits
from w3cws._engine.codec import (
    BAD_UTF8_TEXT,
    MASKED_FRAME,
    MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
    RESERVED_BIT,
    UNEXPECTED_CONTINUATION,
    UNFINISHED_MESSAGE,
    UNKNOWN_OPCODE,
    CloseReceived,
    Inbound,
    MessageAssembler,
    PingReceived,
    ProtocolFailure,
)
from w3cws._engine.tap import InboundTap

__all__ = ["WsprotoCodec"]

# wsproto's parser messages (their first words) and the reason Chromium
# sends for the same error (RFC 6455 §5.1-5.4).
_CHROMIUM_REASONS = (
    ("Invalid opcode", UNKNOWN_OPCODE),
    ("client received unexpected masked frame", MASKED_FRAME),
    ("Reserved bit set unexpectedly", RESERVED_BIT),
    ("unexpected CONTINUATION", UNEXPECTED_CONTINUATION),
    ("expected CONTINUATION", UNFINISHED_MESSAGE),
)


def _chromium_reason(code: int, reason: str) -> str:
    """Chromium's reason for a protocol error wsproto reported."""
    if code == CloseReason.MESSAGE_TOO_BIG:
        return MESSAGE_TOO_BIG
    if code == CloseReason.INVALID_FRAME_PAYLOAD_DATA and reason != "error in extension":
        return BAD_UTF8_TEXT
    for prefix, chromium in _CHROMIUM_REASONS:
        if reason.startswith(prefix):
            return chromium
    return PROTOCOL_ERROR


class WsprotoCodec:
    """The frame codec of a client connection, on wsproto.

    Args:
        max_message_size: a message of more bytes (inflated, with
            permessage-deflate) fails the connection with 1009.
        deflate: the negotiated permessage-deflate extension, if any.
    """

    def __init__(
        self, max_message_size: int = limits.MAX_MESSAGE_SIZE, deflate: Extension | None = None
    ) -> None:
        self._tap = InboundTap(max_message_size)
        # The tap goes last, so that it sees payloads as inflated.
        extensions: list[Extension] = [deflate, self._tap] if deflate else [self._tap]
        self._ws = Connection(ConnectionType.CLIENT, extensions)
        # wsproto inflates whatever it is fed at once: feed it in slices so
        # that the size check runs every few MiB of inflated data at most.
        self.feed_size = limits.DEFLATE_FEED_SIZE if deflate else limits.RECEIVE_SIZE
        self._assembler = MessageAssembler()
        self._stopped = False

    # -- sending --

    def append_message(self, out: bytearray, data: str | bytes | memoryview) -> None:
        """Append ``data`` as one message to ``out``: text for ``str``, else binary."""
        if isinstance(data, str):
            out += self._ws.send(TextMessage(data=data))
        else:
            out += self._ws.send(BytesMessage(data=bytes(data)))

    def message_pieces(self, data: str | bytes | memoryview) -> Iterator[bytes | memoryview]:
        """``data`` as one message, in one piece: wsproto builds frames whole."""
        out = bytearray()
        self.append_message(out, data)
        yield memoryview(out)

    def pong(self, payload: bytes) -> bytes:
        """A Pong frame echoing a Ping's ``payload`` (RFC 6455 §5.5.3)."""
        return self._ws.send(Pong(payload=payload))

    def close(self, code: int | None, reason: str) -> bytes:
        """A Close frame (RFC 6455 §5.5.1); an empty body for ``code`` None."""
        close_payload(code, reason)  # the same refusals as the fast codec
        if code is None:
            return self._ws.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
        return self._ws.send(CloseConnection(code=code, reason=reason or None))

    # -- receiving --

    def receive(self, data: bytes | bytearray) -> list[Inbound]:
        """Parse ``data``; whole messages and events, in order."""
        if self._stopped or not data:
            return []
        ws = self._ws
        ws.receive_data(bytes(data))
        items: list[Inbound] = []
        assembler = self._assembler
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                whole = assembler.add(event.data, event.message_finished)
                if whole is not None:
                    items.append(whole)
            elif isinstance(event, Ping):
                payload = bytes(event.payload)
                # wsproto sends a Pong only while OPEN: build it now, before
                # a Close later in this read changes that.
                pong = self.pong(payload) if ws.state is ConnectionState.OPEN else None
                items.append(PingReceived(payload, pong))
            elif isinstance(event, CloseConnection):
                items.append(self._closed(event))
                self._stopped = True
                break
        return items

    def _closed(self, event: CloseConnection) -> CloseReceived | ProtocolFailure:
        """The server's Close, or wsproto's report of a protocol error."""
        raw = self._tap.close_payload
        if raw is not None:
            # A Close frame was read: our rules judge it (RFC 6455 §7.1.5-6).
            try:
                code, reason = parse_close_payload(raw)
            except InvalidCloseFrame as exc:
                return ProtocolFailure(exc.code, exc.reason)
            return CloseReceived(code, reason)
        # No Close frame: wsproto reports a protocol error as a Close event.
        code = int(event.code)
        return ProtocolFailure(code, _chromium_reason(code, event.reason or ""))
