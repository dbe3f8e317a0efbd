"""What the test server does: actions, :class:`Behavior`, and their one grammar.

The grammar
-----------
Three places say what the server should do without Python code: the query
string of a request (``/chat?send=hello&close=4000``), a ``w3cws serve
--script`` file (``send hello`` on one line, ``close 4000`` on the next) and
:func:`parse_words` for any other list of ``(word, argument)`` pairs. They
share one vocabulary and one parser: a query writes ``word=argument``, a
script writes ``word argument`` a line. The words are documented once, in
:data:`WORDS` and in the "Testing helpers" page of the docs.

Action words run in the order written and, if any is given, replace
``on_open``; setting words (each at most once) replace the :class:`Behavior`
field of the same name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from w3cws.testing.server import ConnectionRecord

__all__ = [
    "WORDS",
    "Action",
    "Behavior",
    "Close",
    "Delay",
    "Drop",
    "Ping",
    "Send",
    "SendFragments",
    "Stall",
    "apply_query",
    "parse_script",
    "parse_words",
]


# --- Actions ---------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send one whole message: a text message for ``str``, binary for ``bytes``."""

    data: str | bytes


@dataclass(frozen=True)
class SendFragments:
    """Send one message split over several frames (RFC 6455 §5.4).

    The first frame is text or binary by the type of the first part, the rest
    are continuation frames; the client must deliver the parts as one message.

    Raises:
        ValueError: ``parts`` is empty, or mixes ``str`` and ``bytes``.
    """

    parts: Sequence[str | bytes]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("SendFragments needs at least one part")
        text = isinstance(self.parts[0], str)
        if any(isinstance(part, str) != text for part in self.parts):
            raise ValueError("SendFragments parts must all be str or all be bytes")


@dataclass(frozen=True)
class Ping:
    """Send a Ping frame (RFC 6455 §5.5.2); the client's Pong lands in ``record.pongs``."""

    payload: bytes = b""


@dataclass(frozen=True)
class Close:
    """Start the closing handshake (RFC 6455 §7.1.2) by sending a Close frame.

    ``code=None`` sends a Close frame with an empty body. The server then keeps
    reading; when the client's Close arrives it closes TCP first, as RFC 6455
    §7.1.1 asks of servers (unless ``keep_tcp_open_after_close``). wsproto puts
    1000 on the wire in place of the API-only codes 1005, 1006 and 1015, and
    truncates the reason to 123 bytes of UTF-8.

    Raises:
        ValueError: a reason without a code (an empty body has no room for one).
    """

    code: int | None = 1000
    reason: str = ""

    def __post_init__(self) -> None:
        if self.code is None and self.reason:
            raise ValueError("a Close reason needs a code")


@dataclass(frozen=True)
class Delay:
    """Wait, reading nothing meanwhile."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close TCP abruptly, with no Close frame (an RST where the OS allows it)."""


@dataclass(frozen=True)
class Stall:
    """Stop reading and answering; TCP stays open until the server shuts down."""


Action: TypeAlias = Send | SendFragments | Ping | Close | Delay | Drop | Stall


# --- Behaviour ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Behavior:
    """What the server does on one connection; every field has a harmless default.

    Attributes:
        reject: reject the handshake with this HTTP status instead of 101.
        reject_body: body of the rejection (a ``content-length`` is added).
        reject_headers: extra headers of the rejection.
        subprotocol: ``"first"`` selects the first subprotocol the client
            offered (none if it offered none); ``None`` never sends the header;
            any other string is sent as is, offered or not, to test clients
            that must fail on it (RFC 6455 §4.1, client step 6).
        deflate: accept permessage-deflate (RFC 7692) when offered.
        extra_response_headers: added to the 101 response.
        raw_response: sent verbatim instead of any handshake response; TCP then
            stays open until the client closes it.
        handshake_delay: seconds to wait before answering the handshake.
        on_open: actions run in order once the connection is open.
        echo: send every received message back with its type.
        on_message: called with the record and each received message; the
            actions it returns run in place of the echo.
        on_close: how to answer a Close the client starts: ``"echo"`` sends its
            code and reason back (an empty body stays empty) and closes TCP;
            ``"stall"`` never answers and keeps TCP open; ``"drop"`` closes TCP
            without answering. A Close that answers the server's own Close is
            always just read.
        keep_tcp_open_after_close: after the closing handshake, leave TCP open
            until the client closes it, instead of closing it first.
        query_overrides: let the request's query string override this behaviour
            (see the module docstring).
    """

    reject: int | None = None
    reject_body: bytes = b""
    reject_headers: Sequence[tuple[str, str]] = ()
    subprotocol: str | None = "first"
    deflate: bool = True
    extra_response_headers: Sequence[tuple[str, str]] = ()
    raw_response: bytes | None = None
    handshake_delay: float = 0
    on_open: Sequence[Action] = ()
    echo: bool = True
    on_message: Callable[[ConnectionRecord, str | bytes], Sequence[Action]] | None = None
    on_close: Literal["echo", "stall", "drop"] = "echo"
    keep_tcp_open_after_close: bool = False
    query_overrides: bool = True


# --- The one grammar --------------------------------------------------------------

# Every word and its usage, in the order the docs list them. Action words
# first (run in the order written), then settings (at most once each).
WORDS: dict[str, str] = {
    "send": "send TEXT: a text message",
    "binary": "binary HEX: a binary message, its bytes in hexadecimal (binary 00ff)",
    "ping": "ping [TEXT]: a Ping with the UTF-8 of TEXT",
    "delay": "delay SECONDS: wait, a number >= 0",
    "close": "close [CODE [REASON]]: a Close frame, CODE in 0..65535; none: empty body",
    "reason": "reason TEXT: the reason of the close (which needs a code)",
    "drop": "drop: close TCP abruptly, no Close frame",
    "stall": "stall: stop reading and answering, keep TCP open",
    "reject": "reject STATUS: refuse the handshake, STATUS in 200..599",
    "subprotocol": "subprotocol [NAME]: select NAME; none: send no subprotocol",
    "deflate": "deflate 0|1: decline or accept permessage-deflate",
    "echo": "echo 0|1: echo received messages or not",
    "handshake_delay": "handshake_delay SECONDS: wait before answering the handshake",
    "on_close": "on_close echo|stall|drop: how to answer the client's Close",
    "keep_tcp_open_after_close": "keep_tcp_open_after_close 0|1: let the client close TCP",
}

_FLAGS = {"0": False, "1": True}


class _BadValue(ValueError):
    """An argument that does not fit its word's usage."""


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise _BadValue from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise _BadValue
    return seconds


def _integer(value: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise _BadValue
    return int(value)


def _flag(value: str) -> bool:
    if value not in _FLAGS:
        raise _BadValue
    return _FLAGS[value]


def _hex(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _BadValue from None


def _drop(value: str) -> Drop:
    # "drop=1" reads naturally in a query, "drop" on a script line.
    if value not in ("", "1"):
        raise _BadValue
    return Drop()


def _stall(value: str) -> Stall:
    if value not in ("", "1"):
        raise _BadValue
    return Stall()


def _close(value: str) -> Close:
    code, _, reason = value.partition(" ")
    if not code:
        return Close(None)
    return Close(_integer(code, 0, 65535), reason.strip())


def _on_close(value: str) -> str:
    if value not in ("echo", "stall", "drop"):
        raise _BadValue
    return value


_ACTIONS: dict[str, Callable[[str], Action]] = {
    "send": Send,
    "binary": lambda value: Send(_hex(value)),
    "ping": lambda value: Ping(value.encode()),
    "delay": lambda value: Delay(_seconds(value)),
    "drop": _drop,
    "stall": _stall,
}

_SETTINGS: dict[str, Callable[[str], object]] = {
    "reject": lambda value: _integer(value, 200, 599),
    "subprotocol": lambda value: value or None,
    "deflate": _flag,
    "echo": _flag,
    "handshake_delay": _seconds,
    "on_close": _on_close,
    "keep_tcp_open_after_close": _flag,
}


class _WordError(ValueError):
    """A pair that breaks the grammar, and its index among the pairs."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def _parse(base: Behavior, words: Iterable[tuple[str, str]]) -> Behavior:
    changes: dict[str, Any] = {}
    actions: list[Action] = []
    close_at: int | None = None
    reason: str | None = None
    index = -1
    for index, (word, value) in enumerate(words):
        usage = WORDS.get(word)
        if usage is None:
            raise _WordError(index, f"unknown word {word!r}; the words are {', '.join(WORDS)}")
        once = word not in _ACTIONS
        if once and (
            word in changes
            or (word == "close" and close_at is not None)
            or (word == "reason" and reason is not None)
        ):
            raise _WordError(index, f"{word!r} may appear only once")
        try:
            if word in _ACTIONS:
                actions.append(_ACTIONS[word](value))
            elif word == "close":
                close_at = len(actions)
                actions.append(_close(value))
            elif word == "reason":
                reason = value
            else:
                changes[word] = _SETTINGS[word](value)
        except _BadValue:
            raise _WordError(index, f"bad {word} {value!r}; usage: {usage}") from None
    if reason is not None:
        if close_at is None:
            raise _WordError(index, "'reason' needs 'close'")
        close = actions[close_at]
        assert isinstance(close, Close)
        try:
            actions[close_at] = Close(close.code, reason)
        except ValueError as exc:
            raise _WordError(index, str(exc)) from None
    if actions:
        changes["on_open"] = tuple(actions)
    return dataclasses.replace(base, **changes)


def parse_words(base: Behavior, words: Iterable[tuple[str, str]]) -> Behavior:
    """Return ``base`` changed by ``(word, argument)`` pairs of the grammar.

    Raises:
        ValueError: an unknown word, a word that may appear once given twice,
            or an argument that does not fit its word; the message quotes
            the word's usage.
    """
    try:
        return _parse(base, words)
    except _WordError as exc:
        raise ValueError(str(exc)) from None


def apply_query(base: Behavior, query: str) -> Behavior:
    """Return ``base`` changed by a query string in the grammar (``send=hi&close=4000``).

    Values are percent-decoded and ``+`` is a space.

    Raises:
        ValueError: the query is malformed or does not follow the grammar.
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise ValueError(f"malformed query string: {exc}") from None
    return parse_words(base, pairs)


def parse_script(text: str, base: Behavior | None = None) -> Behavior:
    """Return ``base`` (default ``Behavior()``) changed by a script in the grammar.

    One ``word argument`` a line (the argument is the rest of the line,
    inner spaces kept); blank lines and lines starting with ``#`` are skipped.

    Raises:
        ValueError: a line does not follow the grammar; the message starts
            with ``line N:``.
    """
    lines: list[int] = []
    pairs: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word, rest.strip()))
            lines.append(number)
    try:
        return _parse(base if base is not None else Behavior(), pairs)
    except _WordError as exc:
        raise ValueError(f"line {lines[exc.index]}: {exc}") from None
