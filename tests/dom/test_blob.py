"""Blob (File API §3): parts, type, endings, slice, readers."""

from __future__ import annotations

import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from w3cws._dom.blob import Blob

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that must finish without suspending (no event loop)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine suspended")


def contents(blob: Blob) -> bytes:
    return run(blob.bytes())


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (None, b""),
        ([], b""),
        (["abc"], b"abc"),
        (["h\u00e9", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv")], b"h\xc3\xa9\x00\xffbamv"),
        ([Blob(["in", "ner"], {"type": "text/plain"}), "!"], b"inner!"),
        (["\ud83d\ude00"], "\U0001f600".encode()),  # a surrogate pair joins
        (["a\ud800b"], b"a\xef\xbf\xbdb"),  # a lone surrogate becomes U+FFFD
        (["\udc00"], b"\xef\xbf\xbd"),
        ((part for part in ["gen", b"erator"]), b"generator"),
        ([memoryview(b"abcdef")[::2]], b"ace"),  # a strided view
        ([memoryview(bytearray(b"\x01\x02\x03\x04")).cast("I")], b"\x01\x02\x03\x04"),
    ],
)
def test_parts(parts: Any, expected: bytes) -> None:
    blob = Blob(parts)
    assert contents(blob) == expected
    assert blob.size == len(expected)
    assert blob.type == ""


@pytest.mark.parametrize("part", [1, 1.5, None, ["nested"], object()])
def test_bad_part_types(part: object) -> None:
    with pytest.raises(TypeError, match="Blob parts must be"):
        Blob([part])  # type: ignore[list-item]


@pytest.mark.parametrize("parts", ["abc", b"abc", bytearray(b"a"), memoryview(b"a"), Blob()])
def test_a_lone_part_is_not_a_sequence(parts: Any) -> None:
    with pytest.raises(TypeError, match="sequence"):
        Blob(parts)


def test_mutable_parts_are_copied_at_construction() -> None:
    source = bytearray(b"abc")
    blob = Blob([source, memoryview(source)])
    source[0] = ord("X")
    assert contents(blob) == b"abcabc"


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("", ""),
        ("text/plain", "text/plain"),
        ("Text/HTML; Charset=UTF-8", "text/html; charset=utf-8"),
        ("a b~", "a b~"),
        ("text/\u00e9", ""),  # outside U+0020..U+007E
        ("text\x7f", ""),
        ("text\n", ""),
        ("\u212a", ""),  # KELVIN SIGN lowercases to ASCII "k", but is not ASCII
    ],
)
def test_type_normalization(given: str, normalized: str) -> None:
    assert Blob([], {"type": given}).type == normalized
    assert Blob(["abc"]).slice(0, 1, given).type == normalized


@pytest.mark.parametrize(
    ("endings", "expected"),
    [
        (None, b"a\r\nb\rc\nd"),
        ("transparent", b"a\r\nb\rc\nd"),
        ("native", os.linesep.join("abcd").encode()),
    ],
)
def test_endings(endings: str | None, expected: bytes) -> None:
    options = {} if endings is None else {"endings": endings}
    blob = Blob(["a\r\nb\rc\nd"], options)
    assert contents(blob) == expected


def test_endings_leave_bytes_parts_alone() -> None:
    assert contents(Blob([b"a\r\n"], {"endings": "native"})) == b"a\r\n"


@pytest.mark.parametrize("endings", ["NATIVE", "", None, 1])
def test_bad_endings(endings: object) -> None:
    with pytest.raises(TypeError, match="endings"):
        Blob([], {"endings": endings})


def test_type_must_be_str() -> None:
    with pytest.raises(TypeError):
        Blob([], {"type": 1})


DATA = b"0123456789"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), DATA),
        ((3,), b"3456789"),
        ((3, 7), b"3456"),
        ((-3,), b"789"),
        ((-3, -1), b"78"),
        ((0, -20), b""),
        ((-20, 2), b"01"),
        ((5, 100), b"56789"),
        ((100,), b""),
        ((7, 3), b""),  # end before start
        ((None, 4), b"0123"),
        ((4, None), b"456789"),
        ((2.5, 5.5), b"2345"),  # [Clamp]: round half to even
        ((float("nan"), float("inf")), DATA),
        ((float("-inf"), 1), b"0"),
        ((True, 3), b"12"),
    ],
)
def test_slice(args: tuple[Any, ...], expected: bytes) -> None:
    blob = Blob([DATA], {"type": "text/plain"})
    part = blob.slice(*args)
    assert contents(part) == expected
    assert part.size == len(expected)
    assert part.type == ""  # not inherited


def test_slice_of_slice_and_content_type() -> None:
    inner = Blob([DATA]).slice(2, 8).slice(1, -1, "Application/JSON")
    assert (contents(inner), inner.type) == (b"3456", "application/json")


def test_slice_shares_memory() -> None:
    blob = Blob([DATA])
    part = blob.slice(2, 4)
    assert part._view().obj is blob._view().obj


@pytest.mark.parametrize("bad", ["1", [1], object()])
def test_slice_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(TypeError):
        Blob([DATA]).slice(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"plain", "plain"),
        (b"\xef\xbb\xbfbom", "bom"),  # UTF-8 decode drops one leading BOM
        (b"\xef\xbb\xbf\xef\xbb\xbfx", "\ufeffx"),
        (b"a\xef\xbb\xbf", "a\ufeff"),  # only a leading one
        (b"a\xffb", "a\ufffdb"),
        (b"\xe2\x82", "\ufffd"),  # truncated sequence: one replacement
        (b"\xc3\xa9", "\u00e9"),
    ],
)
def test_text(data: bytes, text: str) -> None:
    assert run(Blob([data]).text()) == text


def test_readers_return_bytes() -> None:
    blob = Blob(["abc"])
    assert run(blob.arrayBuffer()) == run(blob.bytes()) == b"abc"
    assert type(run(blob.arrayBuffer())) is bytes
    assert run(blob.slice(1).arrayBuffer()) == b"bc"


def test_from_bytes_takes_ownership() -> None:
    data = b"payload"
    blob = Blob._from_bytes(data)
    assert (blob.size, blob.type) == (7, "")
    assert run(blob.bytes()) is data  # no copy for a whole blob
    assert Blob._from_bytes(data, "text/plain").type == "text/plain"


def test_view_is_read_only_and_copy_free() -> None:
    data = b"payload"
    view = Blob._from_bytes(data)._view()
    assert view.readonly
    assert view.obj is data
    assert bytes(view) == data


def test_view_release_does_not_break_the_blob() -> None:
    blob = Blob(["abc"])
    blob._view().release()
    assert contents(blob) == b"abc"


def test_repr_and_identity() -> None:
    blob = Blob(["abc"], {"type": "text/plain"})
    assert repr(blob) == "<Blob size=3 type='text/plain'>"
    assert blob != Blob(["abc"], {"type": "text/plain"})
    assert blob == blob  # noqa: PLR0124 - identity semantics, on purpose
    assert len({blob, blob}) == 1
