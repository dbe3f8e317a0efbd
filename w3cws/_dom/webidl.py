"""Value conversions implied by the WebIDL types of the WebSocket interface."""

from __future__ import annotations

__all__ = ["usv_string"]


def usv_string(value: str) -> str:
    """Convert ``value`` as WebIDL converts a JS string to a USVString.

    A Python ``str`` may hold surrogate code points. JS strings are UTF-16, so
    a high surrogate followed by a low one is one character there; every other
    surrogate is unpaired and becomes U+FFFD (WebIDL "convert to a USVString").
    Strings without surrogates (the common case) are returned unchanged.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value
