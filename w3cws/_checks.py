"""Argument checks of the WebSocket constructor and close(), and Fetch's bad ports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from ._close_codes import MAX_REASON_BYTES, script_may_send
from ._dom.dom_exception import InvalidAccessError, SyntaxError
from ._dom.webidl import usv_string

__all__ = [
    "BAD_PORTS",
    "TOKEN",
    "TOKEN_PATTERN",
    "check_close_arguments",
    "check_protocols",
    "is_bad_port",
]

# Fetch "bad port" list (Fetch §2.8 port blocking), 83 entries. A request to one
# of these is a network error: the WebSocket fails, the constructor does not throw.
BAD_PORTS: Final[frozenset[int]] = frozenset(
    {
        0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77,
        79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135,
        137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531,
        532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720,
        1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
        6669, 6679, 6697, 10080,
    }
)  # fmt: skip

#: An HTTP token (RFC 9110 §5.6.2): U+0021..U+007E without the separators
#: ( ) < > @ , ; : \ " / [ ] ? = { }. Subprotocols (RFC 6455 §4.1 client
#: step 10) and header field names (RFC 9110 §5.1) are tokens.
TOKEN_PATTERN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
TOKEN: Final = re.compile(TOKEN_PATTERN)
_TOKEN_CHARS_HELP = "ASCII letters, digits and ! # $ % & ' * + - . ^ _ ` | ~"


def is_bad_port(port: int | None) -> bool:
    """Tell whether Fetch blocks ``port``; None (no explicit port) never is."""
    return port in BAD_PORTS


def check_protocols(protocols: str | Iterable[str] | None) -> tuple[str, ...]:
    """Run WS §3.1 constructor steps 6-7 on the ``protocols`` argument.

    Args:
        protocols: None (no subprotocols), one ``str``, or an iterable of
            ``str`` (list, tuple, generator...).

    Returns:
        The subprotocols, USVString-converted, in the given order.

    Raises:
        TypeError: ``protocols`` is bytes-like, not iterable, or holds a non-str.
        SyntaxError: (w3cws's DOMException) a value is empty, is not a token,
            or repeats an earlier one exactly (comparison is case-sensitive).
    """
    if protocols is None:
        return ()
    # Step 6: a single string is a one-element list.
    if isinstance(protocols, str):
        protocols = (protocols,)
    elif isinstance(protocols, bytes | bytearray | memoryview):
        raise TypeError(
            "protocols must be a str or a sequence of str, not "
            f"{type(protocols).__name__}; decode it first."
        )
    try:
        values = iter(protocols)
    except TypeError:
        raise TypeError(
            f"protocols must be a str or a sequence of str, not {type(protocols).__name__}."
        ) from None

    result: list[str] = []
    seen: set[str] = set()
    for item in values:
        if not isinstance(item, str):
            raise TypeError(f"Each subprotocol must be a str; got {type(item).__name__} {item!r}.")
        value = usv_string(item)
        # Step 7: every value must be a token, and none may occur twice.
        if not TOKEN.fullmatch(value):
            raise SyntaxError(_token_problem(value))
        if value in seen:
            raise SyntaxError(
                f"The subprotocol {value!r} is listed more than once; list each one once."
            )
        seen.add(value)
        result.append(value)
    return tuple(result)


def _token_problem(value: str) -> str:
    """Explain why ``value`` is not a valid subprotocol token."""
    if not value:
        return "A subprotocol must not be the empty string."
    bad = next(char for char in value if not TOKEN.fullmatch(char))
    return (
        f"The subprotocol {value!r} is invalid: {bad!r} (U+{ord(bad):04X}) is not allowed. "
        f"A subprotocol may only contain {_TOKEN_CHARS_HELP}."
    )


def check_close_arguments(code: int | None, reason: str | None) -> tuple[int | None, bytes | None]:
    """Run WS §3.1 close() steps 1-2, code first.

    Args:
        code: The close code, or None when absent. Must be an ``int`` (not a
            ``bool``); JS's [Clamp] conversion of other types is not mimicked.
        reason: The close reason, or None when absent.

    Returns:
        ``(code, reason_bytes)``: the code as a plain int (or None) and the
        reason as UTF-8 of its USVString conversion (or None when absent).

    Raises:
        TypeError: ``code`` is not an int, or ``reason`` is not a str.
        InvalidAccessError: ``code`` is neither 1000 nor in 3000..4999.
        SyntaxError: (w3cws's DOMException) ``reason`` is over 123 UTF-8 bytes.
    """
    if code is not None:
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"The close code must be an int or None, not {type(code).__name__}.")
        # Step 1.
        if not script_may_send(code):
            raise InvalidAccessError(
                f"The close code must be 1000 or in the range 3000 to 4999; {code} is neither."
            )
        code = int(code)
    if reason is None:
        return code, None
    if not isinstance(reason, str):
        raise TypeError(f"The close reason must be a str or None, not {type(reason).__name__}.")
    # Step 2: USVString conversion, then UTF-8.
    try:
        encoded = reason.encode("utf-8")
    except UnicodeEncodeError:
        encoded = usv_string(reason).encode("utf-8")
    if len(encoded) > MAX_REASON_BYTES:
        raise SyntaxError(
            f"The close reason must be at most {MAX_REASON_BYTES} bytes of UTF-8; "
            f"this one is {len(encoded)} bytes."
        )
    return code, encoded
