"""WebSocket close codes: the registered ones by name, and a describer for any code.

Sources: RFC 6455 §7.4, the IANA "WebSocket Close Code Number" registry, and
the close-code table of the W3C-era API documentation (MDN's CloseEvent page),
whose ``CLOSE_*`` names browser code still uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

__all__ = ["CloseCode", "CloseCodeCategory", "CloseCodeInfo", "describe_close_code"]

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
    script_may_send = code == CloseCode.NORMAL_CLOSURE or 3000 <= code <= 4999
    try:
        member = CloseCode(code)
    except ValueError:
        # RFC 6455 §7.4.2: 3000-4999 may be sent; other unassigned codes may not.
        return CloseCodeInfo(
            code, None, category, range_description, script_may_send, script_may_send
        )
    sendable = member not in _EVENT_ONLY and member != CloseCode.RESERVED
    return CloseCodeInfo(code, member.name, category, _MEANINGS[member], sendable, script_may_send)
