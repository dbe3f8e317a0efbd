"""Constructor protocol checks, close() argument checks and Fetch bad ports (w3cws._checks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from w3cws._checks import BAD_PORTS, check_close_arguments, check_protocols, is_bad_port
from w3cws._close_codes import CloseCode
from w3cws._dom.dom_exception import InvalidAccessError, SyntaxError

# The list as printed in the spec digest (websocket-interface.md §2), kept apart
# from the implementation on purpose.
_FETCH_BAD_PORTS = (
    "0 1 7 9 11 13 15 17 19 20 21 22 23 25 37 42 43 53 69 77 79 87 95 101 102 103 104 109 "
    "110 111 113 115 117 119 123 135 137 139 143 161 179 389 427 465 512 513 514 515 526 "
    "530 531 532 540 548 554 556 563 587 601 636 989 990 993 995 1719 1720 1723 2049 3659 "
    "4045 4190 5060 5061 6000 6566 6665 6666 6667 6668 6669 6679 6697 10080"
)
_LISTED = [int(port) for port in _FETCH_BAD_PORTS.split()]

# RFC 7230 tchar: every character a subprotocol token may hold (77 of them).
_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SEPARATORS = '()<>@,;:\\"/[]?={}'


# ---------------------------------------------------------------- bad ports


def test_bad_ports_match_fetch() -> None:
    assert len(_LISTED) == 83
    assert frozenset(_LISTED) == BAD_PORTS


@pytest.mark.parametrize("port", _LISTED)
def test_listed_port_is_bad(port: int) -> None:
    assert is_bad_port(port)


@pytest.mark.parametrize(
    "port", [None, 2, 8, 24, 80, 81, 443, 444, 1024, 3000, 6663, 6664, 6670, 6678, 8080, 10081,
             65535]
)  # fmt: skip
def test_neighbour_port_is_not_bad(port: int | None) -> None:
    assert not is_bad_port(port)


# ---------------------------------------------------------------- protocols


@pytest.mark.parametrize(
    ("protocols", "expected"),
    [
        (None, ()),
        ([], ()),
        ((), ()),
        ("chat", ("chat",)),
        (["chat"], ("chat",)),
        (["echo", "chat"], ("echo", "chat")),
        (("b", "a"), ("b", "a")),
        # Exact comparison: case variants are distinct values (the standard and
        # RFC 6455 say nothing of case; WPT's case-insensitive test is disputed,
        # whatwg/websockets#47, and no browser passes it).
        (["echo", "eCho"], ("echo", "eCho")),
        (["a", "A"], ("a", "A")),
        # Every token character, in one value and each alone.
        (_TOKEN_CHARS, (_TOKEN_CHARS,)),
        (list(_TOKEN_CHARS), tuple(_TOKEN_CHARS)),
        (["v1.chat+json", "x-y_z~!"], ("v1.chat+json", "x-y_z~!")),
        # Any iterable of str, e.g. a generator or dict keys.
        ((p for p in ["a", "b"]), ("a", "b")),
        ({"a": 1, "b": 2}.keys(), ("a", "b")),
    ],
)
def test_protocols_valid(protocols: str | list[str] | None, expected: tuple[str, ...]) -> None:
    assert check_protocols(protocols) == expected


@pytest.mark.parametrize(
    ("protocols", "message_part"),
    [
        # WPT Create-valid-url-protocol-empty: "" is not a token.
        ("", "empty"),
        ([""], "empty"),
        (["chat", ""], "empty"),
        # WPT Create-protocol-with-space, Create-asciiSep-protocol-string.
        ("a b", "' ' (U+0020)"),
        ("a,b", "',' (U+002C)"),
        ("chat/1", "'/' (U+002F)"),
        ("/echo", "'/' (U+002F)"),
        (" chat", "' ' (U+0020)"),
        ("chat\t", "'\\t' (U+0009)"),
        # WPT Create-nonAscii-protocol-string, and friends.
        ("\u0080echo", "U+0080"),
        ("é", "U+00E9"),
        ("\u0000", "U+0000"),
        ("a\x7f", "U+007F"),
        # A lone surrogate becomes U+FFFD, which is no token character.
        ("a\ud800", "U+FFFD"),
        # WPT Create-protocols-repeated: exact duplicates.
        (["echo", "echo"], "'echo' is listed more than once"),
        (["a", "b", "a"], "'a' is listed more than once"),
        # Values are checked in order: the first problem is reported.
        (["a", "a", "b c"], "listed more than once"),
        (["b c", "a", "a"], "'b c' is invalid"),
    ]
    + [(f"a{sep}b", f"{sep!r} (U+{ord(sep):04X})") for sep in _SEPARATORS],
)
def test_protocols_syntax_error(protocols: str | list[str], message_part: str) -> None:
    with pytest.raises(SyntaxError) as info:
        check_protocols(protocols)
    assert info.value.name == "SyntaxError"
    assert message_part in info.value.message


@pytest.mark.parametrize("char", [chr(c) for c in range(0x80) if chr(c) not in _TOKEN_CHARS])
def test_protocols_every_non_token_ascii_char(char: str) -> None:
    with pytest.raises(SyntaxError):
        check_protocols(f"x{char}")


def _bad_generator() -> Iterator[object]:
    yield "a"
    yield 1


@pytest.mark.parametrize(
    "protocols",
    [b"chat", bytearray(b"chat"), memoryview(b"chat"), [b"chat"], ["a", None], ["a", 1], 42,
     object(), _bad_generator()],
)  # fmt: skip
def test_protocols_type_error(protocols: object) -> None:
    with pytest.raises(TypeError):
        check_protocols(protocols)  # type: ignore[arg-type]


# ---------------------------------------------------------------- close()


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (None, None, (None, None)),
        (1000, None, (1000, None)),
        (3000, None, (3000, None)),
        (3999, None, (3999, None)),
        (4000, None, (4000, None)),
        (4999, None, (4999, None)),
        (None, "", (None, b"")),
        (1000, "", (1000, b"")),
        (None, "bye", (None, b"bye")),
        (4000, "bye", (4000, b"bye")),
        (1000, "é€", (1000, "é€".encode())),
        # Exactly 123 bytes: ASCII, 2-, 3- and 4-byte characters.
        (1000, "a" * 123, (1000, b"a" * 123)),
        (1000, "€" * 41, (1000, "€".encode() * 41)),
        (1000, "é" * 61 + "a", (1000, "é".encode() * 61 + b"a")),
        (1000, "😀" * 30 + "abc", (1000, "😀".encode() * 30 + b"abc")),
        # A lone surrogate costs 3 bytes: it becomes U+FFFD.
        (1000, "\ud800", (1000, b"\xef\xbf\xbd")),
        (1000, "\ud800" * 41, (1000, b"\xef\xbf\xbd" * 41)),
        # A valid pair is one 4-byte character.
        (1000, "\ud83d\ude00", (1000, "😀".encode())),
        # An IntEnum code comes back as a plain int.
        (CloseCode.NORMAL_CLOSURE, None, (1000, None)),
    ],
)
def test_close_arguments_valid(
    code: int | None, reason: str | None, expected: tuple[int | None, bytes | None]
) -> None:
    result = check_close_arguments(code, reason)
    assert result == expected
    assert result[0] is None or type(result[0]) is int


@pytest.mark.parametrize("code", [0, 1, 999, 1001, 1005, 1006, 1015, 2999, 5000, 65535, -1,
                                  70000])  # fmt: skip
def test_close_code_invalid_access(code: int) -> None:
    with pytest.raises(InvalidAccessError) as info:
        check_close_arguments(code, None)
    assert info.value.name == "InvalidAccessError"
    assert info.value.code == 15
    assert "1000 or in the range 3000 to 4999" in info.value.message
    assert str(code) in info.value.message


@pytest.mark.parametrize(
    "reason",
    [
        "a" * 124,
        "€" * 41 + "a",
        "€" * 42,
        "é" * 62,
        "\ud800" * 41 + "a",
        "\ud800" * 42,
    ],
)
def test_close_reason_too_long(reason: str) -> None:
    with pytest.raises(SyntaxError) as info:
        check_close_arguments(1000, reason)
    size = len(reason.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode())
    assert f"this one is {size} bytes" in info.value.message
    assert "123" in info.value.message


def test_close_reason_too_long_without_code() -> None:
    with pytest.raises(SyntaxError):
        check_close_arguments(None, "x" * 124)


@pytest.mark.parametrize("code", [999, 1001, 2999, 5000])
def test_close_code_checked_before_reason(code: int) -> None:
    with pytest.raises(InvalidAccessError):
        check_close_arguments(code, "x" * 200)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000.0, None),
        ("1000", None),
        (True, None),
        (False, None),
        (1000, b"bye"),
        (1000, 1),
        (None, b""),
        # A code of the wrong type is reported before a bad reason.
        ("1000", "x" * 200),
        (1000.5, b"x"),
    ],
)
def test_close_arguments_type_error(code: object, reason: object) -> None:
    with pytest.raises(TypeError):
        check_close_arguments(code, reason)  # type: ignore[arg-type]
