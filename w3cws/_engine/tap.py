"""A pass-through wsproto extension that guards message size and sees Close frames.

It sits last in wsproto's extension list, so it sees every frame header and
every payload after permessage-deflate inflated it:

* **Message size**: a message whose announced length (uncompressed frames) or
  inflated size goes past ``max_message_size`` bytes fails the connection
  with 1009 (RFC 6455 §7.4.1) at once, before it is buffered; a compressed
  message is checked slice by slice as it inflates, so no decompression bomb
  grows memory past the limit.
* **Close frames**: the raw payload of a received Close, so that the wsproto
  codec judges it by our close-code rules (wsproto 1.x rejects 1014, Bad
  Gateway, which IANA registered and RFC 6455 §7.4.2 allows).

The tap uses no RSV bits and changes no payload. It implements wsproto's
public ``Extension`` interface and touches nothing else of wsproto.
"""

from __future__ import annotations

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["InboundTap"]

_NO_RSV = RsvBits(False, False, False)


class InboundTap(Extension):
    """Fails messages past ``max_message_size``; records the Close payload received."""

    name = "x-w3cws-inbound-tap"

    def __init__(self, max_message_size: int | None = None) -> None:
        self._max = max_message_size if max_message_size is not None else 1 << 63
        self._opcode = Opcode.CONTINUATION
        self._compressed = False
        self._size = 0
        #: The payload of the Close frame received, once one was.
        self.close_payload: bytes | None = None

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool:
        return False

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        self._opcode = opcode
        if not opcode.iscontrol():
            if opcode is not Opcode.CONTINUATION:
                self._size = 0
                self._compressed = rsv.rsv1
            if not self._compressed and self._size + payload_length > self._max:
                return CloseReason.MESSAGE_TOO_BIG
        return _NO_RSV

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self._opcode is Opcode.CLOSE:
            # Control frames arrive whole (wsproto waits for the full payload).
            self.close_payload = bytes(data)
        elif not self._opcode.iscontrol():
            self._size += len(data)
            if self._size > self._max:
                return CloseReason.MESSAGE_TOO_BIG
        return data

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if fin and not self._opcode.iscontrol():
            self._size = 0  # the message is complete: the next one starts at 0
        return None
