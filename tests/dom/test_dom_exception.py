"""DOMException family: names, legacy codes, and the class hierarchy."""

from __future__ import annotations

import builtins

import pytest

from w3cws._dom.dom_exception import (
    DOMException,
    InvalidAccessError,
    InvalidStateError,
    SyntaxError,
)


@pytest.mark.parametrize(
    ("cls", "name", "code"),
    [
        (SyntaxError, "SyntaxError", 12),
        (InvalidStateError, "InvalidStateError", 11),
        (InvalidAccessError, "InvalidAccessError", 15),
    ],
)
def test_subclasses_fix_name_and_code(cls: type[DOMException], name: str, code: int) -> None:
    exc = cls("boom")
    assert isinstance(exc, DOMException)
    assert (exc.name, exc.message, exc.code) == (name, "boom", code)
    assert str(exc) == f"{name}: boom"


def test_syntax_error_is_not_the_builtin() -> None:
    assert not issubclass(SyntaxError, builtins.SyntaxError)
    with pytest.raises(DOMException):
        raise SyntaxError("bad url")


@pytest.mark.parametrize(
    ("name", "code"),
    [("AbortError", 20), ("NetworkError", 19), ("Error", 0), ("SomethingElse", 0)],
)
def test_plain_domexception_codes(name: str, code: int) -> None:
    assert DOMException("m", name).code == code


def test_defaults_and_constants() -> None:
    exc = DOMException()
    assert (exc.name, exc.message, str(exc)) == ("Error", "", "Error")
    assert DOMException.SYNTAX_ERR == exc.SYNTAX_ERR == 12
    assert DOMException.INVALID_STATE_ERR == 11
    assert DOMException.INVALID_ACCESS_ERR == 15


def test_message_must_be_str() -> None:
    with pytest.raises(TypeError):
        DOMException(42)  # type: ignore[arg-type]
