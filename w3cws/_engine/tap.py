"""A pass-through wsproto extension that remembers the last Close frame's code.

wsproto 1.x rejects a received Close with 1014 (Bad Gateway, IANA-registered
and valid per RFC 6455 §7.4.2) as an unknown reserved code, and reports it as
a protocol error. Seeing the raw code lets the engine accept it as the real
Close it is. The tap uses no RSV bits and changes no payload.
"""

from __future__ import annotations

from wsproto.extensions import Extension
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["CloseCodeTap"]

_NO_RSV = RsvBits(False, False, False)


class CloseCodeTap(Extension):
    """Records the status code and raw reason of the Close frame received."""

    name = "x-w3cws-close-tap"

    def __init__(self) -> None:
        self._in_close = False
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
    ) -> RsvBits:
        self._in_close = opcode is Opcode.CLOSE
        return _NO_RSV

    def frame_inbound_payload_data(self, proto: FrameDecoder | FrameProtocol, data: bytes) -> bytes:
        # Control frames arrive whole (wsproto waits for the full payload).
        if self._in_close and len(data) >= 2:
            self.code = int.from_bytes(data[:2], "big")
            self.reason = bytes(data[2:])
        return data
