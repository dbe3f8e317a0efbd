"""DOMException family: names, legacy codes, and the class hierarchy."""

from __future__ import annotations

import builtins

import pytest

from w3cws._dom.dom_exception import (
    DOMException,
    InvalidAccessError,
    InvalidStateError,
    SyntaxError,
    failed_call,
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
    # The class names the error, so the message stands alone (the traceback
    # line reads "w3cws.SyntaxError: boom") and the repr shows it once.
    assert str(exc) == "boom"
    assert repr(exc) == f"{name}('boom')"
    assert f"{type(exc).__module__}.{type(exc).__qualname__}" == f"w3cws.{name}"


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


def test_a_plain_domexception_leads_with_its_name() -> None:
    exc = DOMException("the operation was aborted", "AbortError")
    assert str(exc) == "AbortError: the operation was aborted"
    assert repr(exc) == "DOMException('the operation was aborted', 'AbortError')"
    assert DOMException.__module__ == "w3cws"


def test_the_traceback_names_the_public_class() -> None:
    import traceback

    try:
        raise SyntaxError("Failed to construct 'WebSocket': bad")
    except SyntaxError as exc:
        last = traceback.format_exception_only(exc)[-1]
    assert last == "w3cws.SyntaxError: Failed to construct 'WebSocket': bad\n"


@pytest.mark.parametrize(
    "exc",
    [SyntaxError("bad url"), InvalidAccessError("bad code"), TypeError("not a str")],
    ids=repr,
)
def test_failed_call_keeps_the_class_and_leads_with_the_call(exc: Exception) -> None:
    again = failed_call(exc, "construct 'WebSocket'")
    assert type(again) is type(exc)
    assert str(again) == f"Failed to construct 'WebSocket': {exc}"
    if isinstance(exc, DOMException):
        assert isinstance(again, DOMException)
        assert (again.name, again.code) == (exc.name, exc.code)
