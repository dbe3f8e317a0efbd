"""permessage-deflate (RFC 7692) offered and checked the way Chromium does it.

wsproto's ``PerMessageDeflate`` offers explicit window sizes and trusts the
server's answer. Browsers offer ``permessage-deflate; client_max_window_bits``
(the WS §2.2 example) and fail the connection on a malformed answer
(RFC 7692 §5.1, §7.1), so this subclass changes the offer and validates the
response before wsproto configures its compressor from it. The parameters it
accepted are also handed out as
:class:`~w3cws._engine.codec.DeflateParameters`, for our own codec.
"""

from __future__ import annotations

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from w3cws._engine.codec import DeflateParameters

__all__ = ["ChromiumDeflate"]

_NO_VALUE = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOW_BITS = ("server_max_window_bits", "client_max_window_bits")


class ChromiumDeflate(PerMessageDeflate):
    """permessage-deflate with Chromium's offer and a strict response check."""

    #: The offer's parameters, after ``permessage-deflate; ``.
    OFFER = b"client_max_window_bits"

    def __init__(self) -> None:
        super().__init__()
        self._in_control = False

    def offer(self) -> str:
        """The parameters Chromium sends."""
        return self.OFFER.decode()

    def accept_response(self, element: str) -> str | None:
        """Check one response element (RFC 7692 §7.1) and configure from it.

        Returns:
            None when accepted, else why the connection must fail.
        """
        if self.enabled():
            return "permessage-deflate accepted twice"
        seen: set[str] = set()
        accepted = [self.name]
        for raw in element.split(";")[1:]:
            name, sep, value = (part.strip() for part in raw.partition("="))
            value = value.strip('"')
            if name in seen:
                return f"permessage-deflate parameter {name} repeated"
            seen.add(name)
            if name in _NO_VALUE:
                if sep:
                    return f"permessage-deflate parameter {name} takes no value"
                accepted.append(name)
            elif name in _WINDOW_BITS:
                if not (value.isdigit() and value[0] != "0" and 8 <= int(value) <= 15):
                    return f"bad permessage-deflate parameter {name}={value!r}"
                # RFC 7692 §7.1.2 allows 8 bits; zlib compresses with 9 at
                # least, and wsproto takes 9 to 15 only. 9 serves both ways:
                # zlib's 9-bit compressor never reaches back more than 250
                # bytes (window minus its 262-byte lookahead), within an 8-bit
                # window, and a 9-bit inflater reads every 8-bit stream.
                accepted.append(f"{name}={max(int(value), 9)}")
            else:
                return f"unknown permessage-deflate parameter {name!r}"
        # wsproto configures itself from the checked values, unquoted.
        self.finalize("; ".join(accepted))
        return None

    def parameters(self) -> DeflateParameters:
        """The accepted parameters, read from wsproto's configuration (after ``finalize``)."""
        return DeflateParameters(
            client_max_window_bits=self.client_max_window_bits,
            server_max_window_bits=self.server_max_window_bits,
            client_no_context_takeover=self.client_no_context_takeover,
            server_no_context_takeover=self.server_no_context_takeover,
        )

    # wsproto 1.3 resets its per-message state on any frame's FIN, so a Ping
    # between the fragments of a compressed message (RFC 6455 §5.4 allows
    # control frames there) broke the message. Control frames are never
    # compressed (RFC 7692 §6.1): they pass by without touching that state.

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._in_control = opcode.iscontrol()
        if self._in_control:
            # RSV1 on a control frame is still a protocol error.
            return CloseReason.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(False, False, False)
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self._in_control:
            return data
        return super().frame_inbound_payload_data(proto, data)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if self._in_control:
            return None
        return super().frame_inbound_complete(proto, fin)
