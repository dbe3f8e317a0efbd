"""The frame codec interface: what the connection needs from the wire format.

A :class:`FrameCodec` turns the bytes a server sends into whole messages and
the few control events the connection acts on, and turns what the client
sends into masked frames (RFC 6455 §5). It keeps no closing state: which
frames may still be written is the writer's decision
(:mod:`w3cws._engine.writer`). Two codecs implement it:

- :class:`~w3cws._engine.fast_codec.FastCodec`, our own, for every
  connection (with the :class:`DeflateParameters` of permessage-deflate
  when it was negotiated);
- :class:`~w3cws._engine.wsproto_codec.WsprotoCodec`, built on wsproto's
  public API alone, the reference, for every connection when
  :data:`CODEC_ENV` asks for it.

Both report a protocol error as a :class:`ProtocolFailure` with the code of
RFC 6455 §7.4.1 and Chromium's wording for the reason, so a server operator
reads what a browser would send.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final, NamedTuple, Protocol

__all__ = [
    "BAD_UTF8_TEXT",
    "CODEC_ENV",
    "MASKED_FRAME",
    "MESSAGE_TOO_BIG",
    "PROTOCOL_ERROR",
    "RESERVED_BIT",
    "UNEXPECTED_CONTINUATION",
    "UNFINISHED_MESSAGE",
    "UNKNOWN_OPCODE",
    "CloseReceived",
    "DeflateParameters",
    "FrameCodec",
    "Inbound",
    "MessageAssembler",
    "PingReceived",
    "ProtocolFailure",
    "wsproto_codec_forced",
]

#: Set to ``wsproto`` to run every connection on the wsproto codec (tests,
#: the conformance suite); anything else keeps the default choice.
CODEC_ENV: Final = "W3CWS_CODEC"

# The reasons Chromium puts in the Close frame when it fails a connection
# (net/websockets: websocket_channel.cc, websocket_basic_stream.cc).
MASKED_FRAME: Final = "Masked frame from server"
UNKNOWN_OPCODE: Final = "Unknown opcode"
RESERVED_BIT: Final = "Invalid reserved bit"
UNEXPECTED_CONTINUATION: Final = "Unexpected continuation"
UNFINISHED_MESSAGE: Final = "Previous data frame unfinished"
PROTOCOL_ERROR: Final = "WebSocket Protocol Error"
BAD_UTF8_TEXT: Final = "Invalid UTF-8 in text frame"
# Chromium has no message-size limit; ours says what happened.
MESSAGE_TOO_BIG: Final = "Message too big"


class PingReceived:
    """A Ping frame arrived (RFC 6455 §5.5.2).

    ``pong`` is the answer, built as the Ping was parsed (§5.5.3), so that
    it can still go out when the server's Close follows in the same read;
    None once the codec may no longer send one. Equality looks at the
    payload only.
    """

    __slots__ = ("payload", "pong")

    def __init__(self, payload: bytes, pong: bytes | None = None) -> None:
        self.payload = payload
        self.pong = pong

    def __eq__(self, other: object) -> bool:
        return type(other) is PingReceived and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(self.payload)

    def __repr__(self) -> str:
        return f"PingReceived({self.payload!r})"


class CloseReceived:
    """The server's valid Close frame: its code (1005 for none) and reason (RFC 6455 §7.1.5-6)."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return type(other) is CloseReceived and (other.code, other.reason) == (
            self.code,
            self.reason,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"CloseReceived({self.code}, {self.reason!r})"


class ProtocolFailure:
    """The server broke the protocol: fail the connection with this Close (RFC 6455 §7.1.7)."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return type(other) is ProtocolFailure and (other.code, other.reason) == (
            self.code,
            self.reason,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"ProtocolFailure({self.code}, {self.reason!r})"


class DeflateParameters(NamedTuple):
    """The permessage-deflate parameters a server accepted (RFC 7692 §7.1).

    Window sizes are those zlib works with: 9 to 15 bits (the handshake
    takes a server's 8 as 9, see :mod:`w3cws._engine.deflate`).
    """

    #: The window the client compresses with (RFC 7692 §7.1.2.2).
    client_max_window_bits: int = 15
    #: The window the server compresses with (RFC 7692 §7.1.2.1).
    server_max_window_bits: int = 15
    #: The client starts each message with an empty window (RFC 7692 §7.1.1.2).
    client_no_context_takeover: bool = False
    #: The server does (RFC 7692 §7.1.1.1).
    server_no_context_takeover: bool = False


#: What :meth:`FrameCodec.receive` hands out, in arrival order: a whole
#: message (``str`` for text, ``bytes`` for binary), a Ping, and at most one
#: final :class:`CloseReceived` or :class:`ProtocolFailure`. Pongs are not
#: reported (no script sees them, WS §5).
Inbound = str | bytes | PingReceived | CloseReceived | ProtocolFailure


class FrameCodec(Protocol):
    """Frames in and out for one client connection (RFC 6455 §5)."""

    #: How many bytes :meth:`receive` should be given at once. With
    #: permessage-deflate this bounds how much one call may inflate.
    feed_size: int

    def receive(self, data: bytes | bytearray) -> list[Inbound]:
        """Parse ``data``; whole messages and events, in order.

        After a :class:`CloseReceived` or a :class:`ProtocolFailure`, the
        codec parses nothing more: the rest of the stream is ignored.
        """
        ...

    def append_message(self, out: bytearray, data: str | bytes | memoryview) -> None:
        """Append ``data`` as one message to ``out``: text for ``str``, else binary."""
        ...

    def message_pieces(self, data: str | bytes | memoryview) -> Iterator[bytes | memoryview]:
        """``data`` as one message, in pieces to write in order (for large messages).

        There is at least one piece. A piece is valid until the next one is
        taken.
        """
        ...

    def close(self, code: int | None, reason: str) -> bytes:
        """A Close frame: an empty body for ``code`` None, else code and reason."""
        ...


class MessageAssembler:
    """Joins the pieces of a fragmented message (RFC 6455 §5.4), for both codecs.

    A text message's pieces arrive decoded (``str``), a binary message's as
    bytes; the message is joined once, when its last piece arrives.
    """

    __slots__ = ("_binary", "_text")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._binary: list[bytes] = []

    def add(self, piece: str | bytes | bytearray, last: bool) -> str | bytes | None:
        """Take one piece; the whole message when ``last``, else None."""
        if isinstance(piece, str):
            text = self._text
            if last and not text:
                return piece
            text.append(piece)
            if not last:
                return None
            self._text = []
            return "".join(text)
        binary = self._binary
        if last and not binary:
            return piece if type(piece) is bytes else bytes(piece)
        binary.append(bytes(piece))
        if not last:
            return None
        self._binary = []
        return b"".join(binary)


def wsproto_codec_forced() -> bool:
    """Whether :data:`CODEC_ENV` asks for the wsproto codec on every connection."""
    return os.environ.get(CODEC_ENV, "").strip().lower() == "wsproto"
