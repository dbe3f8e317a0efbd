"""WebSocket close codes and reasons: names, rules, and the Close frame body.

The one place for the close-code and reason rules: ``WebSocket.close()``
checks its arguments with :func:`script_may_send` and
:data:`MAX_REASON_BYTES`; the engine reads a received Close frame with
:func:`parse_close_payload` and builds one with :func:`close_payload`.

Sources: RFC 6455 §7.4, the IANA "WebSocket Close Code Number" registry, and
the close-code table of the W3C-era API documentation (MDN's CloseEvent page),
whose ``CLOSE_*`` names browser code still uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

__all__ = [
    "BAD_UTF8_CLOSE",
    "MAX_REASON_BYTES",
    "CloseCode",
    "CloseCodeCategory",
    "CloseCodeInfo",
    "InvalidCloseFrame",
    "close_payload",
    "describe_close_code",
    "parse_close_payload",
    "script_may_send",
    "valid_on_wire",
]

CloseCodeCategory = Literal["unused", "protocol", "extension", "library", "application", "invalid"]


class CloseCode(IntEnum):
    """Every close code in the IANA registry (1000-1015), with the legacy aliases.

    Primary names follow the RFC 6455 / IANA meanings. The ``CLOSE_*`` names are
    enum aliases taken from the W3C-era CloseEvent table, so
    ``CloseCode.CLOSE_NORMAL is CloseCode.NORMAL_CLOSURE``.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # IANA lists 1004 as "Reserved": registered, but with no meaning yet.
    RESERVED = 1004
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    # Legacy names (W3C-era table). CLOSE_TOO_LARGE is 1009 there: the hybi
    # drafts before RFC 6455 briefly used 1004 for "frame too large", but the
    # RFC moved "message too big" to 1009 and left 1004 reserved, and the table
    # follows the RFC.
    CLOSE_NORMAL = 1000
    CLOSE_GOING_AWAY = 1001
    CLOSE_PROTOCOL_ERROR = 1002
    CLOSE_UNSUPPORTED = 1003
    CLOSE_NO_STATUS = 1005
    CLOSE_ABNORMAL = 1006
    CLOSE_TOO_LARGE = 1009


# Codes an endpoint must never put in a Close frame (RFC 6455 §7.4.1); they only
# ever show up as CloseEvent.code, reported by the local side.
_EVENT_ONLY: frozenset[int] = frozenset(
    {CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}
)

# Registered codes that may travel in a Close frame: all but 1004 (reserved)
# and the event-only ones (RFC 6455 §7.4.1-2, IANA). 1014 is one of them.
_WIRE_REGISTERED: frozenset[int] = frozenset(
    code for code in CloseCode if code not in _EVENT_ONLY and code != CloseCode.RESERVED
)

#: WS §3.1 close() step 2 and RFC 6455 §5.5: a Close payload is at most 125
#: bytes, 2 of which hold the code.
MAX_REASON_BYTES: Final = 123

#: Chromium's reason when it fails a connection over a Close reason that is
#: not UTF-8 (RFC 6455 §8.1 makes that code 1007).
BAD_UTF8_CLOSE: Final = "Invalid UTF-8 in Close frame"


def script_may_send(code: int) -> bool:
    """Whether ``close()`` accepts ``code``: 1000 or 3000-4999 (WS §3.1 close() step 1)."""
    return code == CloseCode.NORMAL_CLOSURE or 3000 <= code <= 4999


def valid_on_wire(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame (RFC 6455 §7.4.1-2, IANA).

    Registered codes but 1004, 1005, 1006 and 1015, and 3000-4999. A received
    Close with any other code fails the connection (as Autobahn requires).
    """
    return code in _WIRE_REGISTERED or 3000 <= code <= 4999


class InvalidCloseFrame(ValueError):
    """A received Close frame is malformed: fail with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


def parse_close_payload(payload: bytes | bytearray) -> tuple[int, str]:
    """The code and reason of a received Close frame (RFC 6455 §5.5.1, §7.1.5-6).

    An empty body reads as code 1005 and reason "".

    Raises:
        InvalidCloseFrame: a 1-byte body or a code not :func:`valid_on_wire`
            (1002, with an empty reason as Chromium sends), or a reason that
            is not UTF-8 (1007).
    """
    if not payload:
        return CloseCode.NO_STATUS_RECEIVED.value, ""
    if len(payload) == 1:
        raise InvalidCloseFrame(CloseCode.PROTOCOL_ERROR.value, "")
    code = (payload[0] << 8) | payload[1]
    if not valid_on_wire(code):
        raise InvalidCloseFrame(CloseCode.PROTOCOL_ERROR.value, "")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCloseFrame(
            CloseCode.INVALID_FRAME_PAYLOAD_DATA.value, BAD_UTF8_CLOSE
        ) from None
    return code, reason


def close_payload(code: int | None, reason: str) -> bytes:
    """The body of a Close frame we send (RFC 6455 §5.5.1).

    ``code`` None gives an empty body (and ignores ``reason``, which is then
    empty in practice). A reason is cut to :data:`MAX_REASON_BYTES` bytes at a
    character boundary; ``close()`` refuses longer ones before this point.

    Raises:
        ValueError: ``code`` may not be sent (see :func:`valid_on_wire`).
    """
    if code is None:
        return b""
    if not valid_on_wire(code):
        raise ValueError(f"close code {code} may not be sent in a Close frame")
    body = code.to_bytes(2, "big")
    if not reason:
        return body
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_REASON_BYTES:
        encoded = encoded[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return body + encoded


_MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL_CLOSURE: "Normal closure: the connection did what it was opened for.",
    CloseCode.GOING_AWAY: (
        "Going away: the endpoint is leaving, e.g. a server shutting down or a page "
        "being navigated away from."
    ),
    CloseCode.PROTOCOL_ERROR: "Protocol error: the endpoint received a malformed frame.",
    CloseCode.UNSUPPORTED_DATA: (
        "Unsupported data: the endpoint cannot accept this type of data "
        "(e.g. binary sent to a text-only endpoint)."
    ),
    CloseCode.RESERVED: "Reserved: registered without a meaning; never sent.",
    CloseCode.NO_STATUS_RECEIVED: (
        "No status received: the peer's Close frame carried no code. Reported locally "
        "only; never sent."
    ),
    CloseCode.ABNORMAL_CLOSURE: (
        "Abnormal closure: the connection ended without a Close frame (or failed). "
        "Reported locally only; never sent."
    ),
    CloseCode.INVALID_FRAME_PAYLOAD_DATA: (
        "Invalid payload data: a message's content did not match its type "
        "(e.g. invalid UTF-8 in a text message)."
    ),
    CloseCode.POLICY_VIOLATION: (
        "Policy violation: a message broke the endpoint's policy; the generic code "
        "when no more specific one fits."
    ),
    CloseCode.MESSAGE_TOO_BIG: "Message too big: a message was too large to process.",
    CloseCode.MANDATORY_EXTENSION: (
        "Mandatory extension: the client needed an extension the server did not agree to."
    ),
    CloseCode.INTERNAL_ERROR: (
        "Internal error: an unexpected condition stopped the endpoint from going on."
    ),
    CloseCode.SERVICE_RESTART: "Service restart: the server is restarting.",
    CloseCode.TRY_AGAIN_LATER: (
        "Try again later: the server is temporarily overloaded or unavailable."
    ),
    CloseCode.BAD_GATEWAY: (
        "Bad gateway: a gateway or proxy got an invalid response from the upstream server."
    ),
    CloseCode.TLS_HANDSHAKE: (
        "TLS handshake failure: the TLS handshake could not be completed. Reported "
        "locally only; never sent (browsers report 1006 instead)."
    ),
}

# (first code, category, description) of each range, lowest first.
_RANGES: tuple[tuple[int, CloseCodeCategory, str], ...] = (
    (0, "unused", "0-999: not used; never valid."),
    (1000, "protocol", "1000-1999: reserved for the WebSocket protocol standard; unassigned."),
    (2000, "extension", "2000-2999: reserved for WebSocket extensions; unassigned."),
    (3000, "library", "3000-3999: for libraries and frameworks (registered with IANA)."),
    (4000, "application", "4000-4999: for private use by applications."),
    (5000, "invalid", "5000 and above: invalid; never valid on the wire."),
)


@dataclass(frozen=True, slots=True)
class CloseCodeInfo:
    """What a close code means and where it may be used.

    Attributes:
        code: The code itself.
        name: The primary ``CloseCode`` name, or None for an unregistered code.
        category: The range the code lies in.
        description: The code's meaning, or its range's when it has no name.
        sendable: May appear in a Close frame on the wire. False for 1004,
            1005, 1006, 1015 and for codes no registry has assigned.
        script_may_send: Accepted by ``WebSocket.close()`` (1000, 3000-4999).
    """

    code: int
    name: str | None
    category: CloseCodeCategory
    description: str
    sendable: bool
    script_may_send: bool

    @property
    def event_only(self) -> bool:
        """Whether the code only ever appears in a CloseEvent (1005, 1006, 1015)."""
        return self.code in _EVENT_ONLY


def describe_close_code(code: int) -> CloseCodeInfo:
    """Describe any close code from 0 to 65535.

    Raises:
        TypeError: ``code`` is not an int (a bool is refused too).
        ValueError: ``code`` is outside 0..65535 (an unsigned short).
    """
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"A close code must be an int, not {type(code).__name__}.")
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"A close code is an unsigned 16-bit number (0-65535); got {code}.")
    code = int(code)
    category, range_description = next(
        (category, description)
        for first, category, description in reversed(_RANGES)
        if code >= first
    )
    by_script = script_may_send(code)
    sendable = valid_on_wire(code)
    try:
        member = CloseCode(code)
    except ValueError:
        # RFC 6455 §7.4.2: 3000-4999 may be sent; other unassigned codes may not.
        return CloseCodeInfo(code, None, category, range_description, sendable, by_script)
    return CloseCodeInfo(code, member.name, category, _MEANINGS[member], sendable, by_script)
