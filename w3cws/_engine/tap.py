"""A pass-through wsproto extension that guards message size and sees Close codes.

It sits last in wsproto's extension list, so it sees every frame header and
every payload after permessage-deflate inflated it:

* **Message size**: a message whose announced length (uncompressed frames) or
  inflated size goes past ``max_message_size`` bytes fails the connection
  with 1009 (RFC 6455 §7.4.1) at once, before it is buffered; a compressed
  message is checked slice by slice as it inflates, so no decompression bomb
  grows memory past the limit.
* **Close codes**: wsproto 1.x rejects a received Close with 1014 (Bad
  Gateway, IANA-registered and valid per RFC 6455 §7.4.2) as an unknown
  reserved code; the raw code seen here lets the engine accept it.

The tap uses no RSV bits and changes no payload.
"""

from __future__ import annotations

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["InboundTap"]

_NO_RSV = RsvBits(False, False, False)


class InboundTap(Extension):
    """Fails messages past ``max_message_size``; records the Close frame received."""

    name = "x-w3cws-inbound-tap"

    def __init__(self, max_message_size: int | None = None) -> None:
        self._max = max_message_size if max_message_size is not None else 1 << 63
        self._opcode = Opcode.CONTINUATION
        self._compressed = False
        self._size = 0
        self.code: int | None = None
        self.reason = b""

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
            if len(data) >= 2:
                self.code = int.from_bytes(data[:2], "big")
                self.reason = bytes(data[2:])
        elif not self._opcode.iscontrol():
            self._size += len(data)
            if self._size > self._max:
                return CloseReason.MESSAGE_TOO_BIG
        return data
