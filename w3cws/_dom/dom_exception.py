"""DOMException and the subclasses the WebSocket interface throws.

WebIDL §2.8 (https://webidl.spec.whatwg.org/#idl-DOMException): a DOMException
has a ``name``, a ``message`` and, for the names in the legacy error-code table,
a numeric ``code``. Browsers throw a plain DOMException with a given name; in
Python, catching by class is the idiom, so each name the WebSocket API can
throw gets its own subclass. ``w3cws.SyntaxError`` is one of them, not the
builtin ``SyntaxError``.

The classes say ``w3cws`` is their module, where users import them from, so
a traceback ends as a browser console does: ``w3cws.SyntaxError: Failed to
construct 'WebSocket': ...``.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

__all__ = [
    "DOMException",
    "InvalidAccessError",
    "InvalidStateError",
    "SyntaxError",
    "failed_call",
]

E = TypeVar("E", bound=Exception)

# WebIDL "DOMException names" table: the names that carry a legacy code.
_LEGACY_CODES: dict[str, int] = {
    "IndexSizeError": 1,
    "HierarchyRequestError": 3,
    "WrongDocumentError": 4,
    "InvalidCharacterError": 5,
    "NoModificationAllowedError": 7,
    "NotFoundError": 8,
    "NotSupportedError": 9,
    "InvalidStateError": 11,
    "SyntaxError": 12,
    "InvalidModificationError": 13,
    "NamespaceError": 14,
    "InvalidAccessError": 15,
    "TypeMismatchError": 17,
    "SecurityError": 18,
    "NetworkError": 19,
    "AbortError": 20,
    "URLMismatchError": 21,
    "QuotaExceededError": 22,
    "TimeoutError": 23,
    "InvalidNodeTypeError": 24,
    "DataCloneError": 25,
}


class DOMException(Exception):
    """A WebIDL DOMException: ``name``, ``message`` and the legacy ``code``.

    ``DOMException(message, name)`` takes its arguments in the browser's order.
    Subclasses fix the name, so ``InvalidStateError("...")`` is the same as
    ``DOMException("...", "InvalidStateError")`` but can be caught by class.
    ``str()`` is the message, led by the name when the class does not say it
    (``DOMException("...", "AbortError")``).
    """

    __module__ = "w3cws"

    INDEX_SIZE_ERR: ClassVar[int] = 1
    DOMSTRING_SIZE_ERR: ClassVar[int] = 2
    HIERARCHY_REQUEST_ERR: ClassVar[int] = 3
    WRONG_DOCUMENT_ERR: ClassVar[int] = 4
    INVALID_CHARACTER_ERR: ClassVar[int] = 5
    NO_DATA_ALLOWED_ERR: ClassVar[int] = 6
    NO_MODIFICATION_ALLOWED_ERR: ClassVar[int] = 7
    NOT_FOUND_ERR: ClassVar[int] = 8
    NOT_SUPPORTED_ERR: ClassVar[int] = 9
    INUSE_ATTRIBUTE_ERR: ClassVar[int] = 10
    INVALID_STATE_ERR: ClassVar[int] = 11
    SYNTAX_ERR: ClassVar[int] = 12
    INVALID_MODIFICATION_ERR: ClassVar[int] = 13
    NAMESPACE_ERR: ClassVar[int] = 14
    INVALID_ACCESS_ERR: ClassVar[int] = 15
    VALIDATION_ERR: ClassVar[int] = 16
    TYPE_MISMATCH_ERR: ClassVar[int] = 17
    SECURITY_ERR: ClassVar[int] = 18
    NETWORK_ERR: ClassVar[int] = 19
    ABORT_ERR: ClassVar[int] = 20
    URL_MISMATCH_ERR: ClassVar[int] = 21
    QUOTA_EXCEEDED_ERR: ClassVar[int] = 22
    TIMEOUT_ERR: ClassVar[int] = 23
    INVALID_NODE_TYPE_ERR: ClassVar[int] = 24
    DATA_CLONE_ERR: ClassVar[int] = 25

    _default_name: ClassVar[str] = "Error"

    def __init__(self, message: str = "", name: str | None = None) -> None:
        if not isinstance(message, str):
            raise TypeError(f"DOMException message must be a str, not {type(message).__name__}")
        self._message = message
        self._name = self._default_name if name is None else name
        super().__init__(message)

    @property
    def name(self) -> str:
        """The WebIDL error name, e.g. ``"SyntaxError"``."""
        return self._name

    @property
    def message(self) -> str:
        """The human-readable message given at creation."""
        return self._message

    @property
    def code(self) -> int:
        """The legacy numeric code for the name (0 for names without one)."""
        return _LEGACY_CODES.get(self._name, 0)

    def __repr__(self) -> str:
        if self._name == self._default_name:
            return f"{type(self).__name__}({self._message!r})"
        return f"{type(self).__name__}({self._message!r}, {self._name!r})"

    def __str__(self) -> str:
        if not self._message:
            return self._name
        if self._name == self._default_name:
            return self._message
        return f"{self._name}: {self._message}"


class SyntaxError(DOMException):
    """DOMException named ``"SyntaxError"`` (code 12); not the builtin."""

    __module__ = "w3cws"
    _default_name = "SyntaxError"


class InvalidStateError(DOMException):
    """DOMException named ``"InvalidStateError"`` (code 11)."""

    __module__ = "w3cws"
    _default_name = "InvalidStateError"


class InvalidAccessError(DOMException):
    """DOMException named ``"InvalidAccessError"`` (code 15)."""

    __module__ = "w3cws"
    _default_name = "InvalidAccessError"


def failed_call(exc: E, call: str) -> E:
    """``exc`` again (same class) with the browser's lead: ``Failed to {call}: ...``.

    Chromium prefixes what an API call throws with the call that failed
    (``Failed to construct 'WebSocket': ...``, ``Failed to execute 'close' on
    'WebSocket': ...``); the checks raise plain messages, and the interface
    adds the prefix where it knows the call.

    Args:
        exc: what a check raised: a DOMException, TypeError or ValueError.
        call: ``"construct 'WebSocket'"`` or ``"execute 'close' on 'WebSocket'"``.
    """
    if isinstance(exc, DOMException):
        return type(exc)(f"Failed to {call}: {exc.message}", exc.name)
    return type(exc)(f"Failed to {call}: {exc}")
