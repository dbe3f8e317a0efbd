"""USVString conversion: lone surrogates become U+FFFD, pairs join."""

from __future__ import annotations

import pytest

from w3cws._dom.webidl import usv_string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("hello", "hello"),
        ("h\u00e9\u20ac\U0001f600", "h\u00e9\u20ac\U0001f600"),
        ("\ud83d\ude00", "\U0001f600"),  # a surrogate pair, as JS would hold it
        ("a\ud800b", "a\ufffdb"),  # lone high surrogate
        ("a\udc00b", "a\ufffdb"),  # lone low surrogate
        ("\ude00\ud83d", "\ufffd\ufffd"),  # pair in the wrong order
        ("\ud83d", "\ufffd"),  # high surrogate at the end
    ],
)
def test_usv_string(value: str, expected: str) -> None:
    assert usv_string(value) == expected


def test_clean_string_is_returned_as_is() -> None:
    value = "no surrogates here " * 10
    assert usv_string(value) is value
