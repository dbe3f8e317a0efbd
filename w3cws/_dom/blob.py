"""Blob: an immutable run of bytes with a MIME type (File API §3, https://w3c.github.io/FileAPI/#blob-section).

A WebSocket delivers binary messages as Blobs by default and can send them.
The bytes are always in memory here, so:

- the constructor joins its parts into one ``bytes`` (the only copy), and every
  Blob holds a read-only ``memoryview`` of such a ``bytes``; ``slice()`` makes
  a sub-view that shares it;
- the async readers never suspend: they return at once, which makes them
  awaitable under trio and asyncio alike, and usable with no loop at all.
"""

from __future__ import annotations

import builtins
import math
import operator
import os
import re
from collections.abc import Iterable, Mapping
from typing import SupportsIndex

from .webidl import usv_string

__all__ = ["Blob"]

# File API §3.1 "convert line endings to native": CRLF, lone CR and lone LF.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _normalize_type(value: object) -> str:
    # File API §3.1 constructor step 3 / §3.3.1 slice() step 5: anything outside
    # U+0020..U+007E gives "", else ASCII-lowercase. For ASCII, printable means
    # exactly U+0020..U+007E.
    if not isinstance(value, str):
        raise TypeError(f"a Blob type must be a str, not {type(value).__name__}")
    return value.lower() if value.isascii() and value.isprintable() else ""


def _clamp_index(value: SupportsIndex | float) -> int:
    # WebIDL "[Clamp] long long": NaN -> 0, round half to even. Out-of-range
    # values need no clamping here: slice() clamps to [0, size] right after.
    if isinstance(value, float):
        if math.isnan(value):
            return 0
        if math.isinf(value):
            return 1 << 63 if value > 0 else -(1 << 63)
        return round(value)
    return operator.index(value)


def _relative(index: SupportsIndex | float, size: int) -> int:
    # File API §3.3.1 slice() steps 3-4: negative counts from the end; clamp.
    value = _clamp_index(index)
    return max(size + value, 0) if value < 0 else min(value, size)


class Blob:
    """A File API ``Blob``: immutable bytes plus a ``type``.

    Args:
        blobParts: an iterable of ``str`` (USVString-converted, then UTF-8),
            ``bytes``/``bytearray``/``memoryview`` (copied now) and ``Blob``
            (its bytes; its type is ignored).
        options: optional ``BlobPropertyBag`` mapping: ``type`` (a MIME type,
            normalized) and ``endings`` (``"transparent"`` or ``"native"``,
            which converts line breaks in ``str`` parts to ``os.linesep``).

    Raises:
        TypeError: ``blobParts`` is not an iterable of parts, a part has
            another type, or ``endings`` is not one of the two values.

    Equality is identity, as for JS objects.
    """

    __slots__ = ("_data", "_type")
    _data: memoryview  # read-only, over an immutable bytes
    _type: str

    def __init__(
        self,
        blobParts: Iterable[str | builtins.bytes | bytearray | memoryview | Blob] | None = None,
        options: Mapping[str, object] | None = None,
    ) -> None:
        # File API §3.1 constructor steps.
        type_ = ""
        native = False
        if options is not None:
            type_ = _normalize_type(options.get("type", ""))
            endings = options.get("endings", "transparent")
            if endings not in ("transparent", "native"):
                raise TypeError(f"Blob endings must be 'transparent' or 'native', not {endings!r}")
            native = endings == "native"
        if blobParts is None:
            blobParts = ()
        elif isinstance(blobParts, str | builtins.bytes | bytearray | memoryview | Blob):
            # WebIDL sequence<BlobPart>: a lone part is not a sequence, even
            # though Python can iterate over str and bytes.
            raise TypeError("blobParts must be a sequence of parts, not a single part")
        chunks: list[builtins.bytes | bytearray | memoryview] = []
        for part in blobParts:
            # File API §4.1 "process blob parts".
            if isinstance(part, str):
                text = usv_string(part)
                if native:
                    text = _LINE_BREAK.sub(os.linesep, text)
                chunks.append(text.encode("utf-8"))
            elif isinstance(part, builtins.bytes | bytearray):
                chunks.append(part)
            elif isinstance(part, memoryview):
                chunks.append(part if part.c_contiguous else part.tobytes())
            elif isinstance(part, Blob):
                chunks.append(part._data)
            else:
                raise TypeError(
                    "Blob parts must be str, bytes, bytearray, memoryview or Blob, "
                    f"not {type(part).__name__}"
                )
        # One join: copies bytearrays and views now, and returns a lone bytes as is.
        self._data = memoryview(b"".join(chunks))
        self._type = type_

    @classmethod
    def _from_bytes(cls, data: builtins.bytes, type: str = "") -> Blob:
        """Wrap ``data`` without copying (for the engine). ``type`` must be normalized.

        ``_wrap`` inlined: a socket with binaryType "blob" makes one per message.
        """
        blob = cls.__new__(cls)
        blob._data = memoryview(data)
        blob._type = type
        return blob

    @classmethod
    def _wrap(cls, view: memoryview, type: str) -> Blob:
        blob = cls.__new__(cls)
        blob._data = view
        blob._type = type
        return blob

    def _view(self) -> memoryview:
        """Return a read-only view of the contents, without copying."""
        return self._data[:]

    def __repr__(self) -> str:
        return f"<Blob size={len(self._data)} type={self._type!r}>"

    @property
    def size(self) -> int:
        """The number of bytes."""
        return len(self._data)

    @property
    def type(self) -> str:
        """The normalized MIME type, or ``""``."""
        return self._type

    def slice(
        self,
        start: SupportsIndex | float | None = None,
        end: SupportsIndex | float | None = None,
        contentType: str | None = None,
    ) -> Blob:
        """Return a Blob of bytes ``start`` to ``end``, sharing this one's memory.

        Args:
            start: first byte; negative counts from the end; default 0.
            end: byte after the last; negative counts from the end; default size.
            contentType: the new Blob's type, normalized; default ``""``
                (the type is not inherited).
        """
        # File API §3.3.1 slice() steps.
        size = len(self._data)
        relative_start = 0 if start is None else _relative(start, size)
        relative_end = size if end is None else _relative(end, size)
        span = max(relative_end - relative_start, 0)
        type_ = "" if contentType is None else _normalize_type(contentType)
        return Blob._wrap(self._data[relative_start : relative_start + span], type_)

    def _to_bytes(self) -> builtins.bytes:
        # A view of a whole bytes object is that object: return it, copy-free.
        data = self._data
        whole = data.obj
        if isinstance(whole, builtins.bytes) and len(whole) == len(data):
            return whole
        return data.tobytes()

    async def arrayBuffer(self) -> builtins.bytes:
        """Return the contents (the Python ArrayBuffer is ``bytes``)."""
        return self._to_bytes()

    async def bytes(self) -> builtins.bytes:
        """Return the contents as ``bytes``."""
        return self._to_bytes()

    async def text(self) -> str:
        """Return the contents decoded as UTF-8 (File API "UTF-8 decode").

        A leading byte order mark is dropped; invalid sequences become U+FFFD.
        """
        return str(self._data, "utf-8-sig", "replace")
