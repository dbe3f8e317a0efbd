"""The package facade: exactly the names of w3c-surface.md, plus documented extras."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import w3cws

SURFACE = Path(__file__).resolve().parents[2] / "shared" / "w3c-surface.md"
# Python conveniences beside the contract (w3c-surface.md allows extras),
# and the event loop additions listed at its end.
EXTRAS = {
    "CloseCode",
    "CloseCodeInfo",
    "describe_close_code",
    "__version__",
    "subscribe_trace",
    "TraceEvent",
}
EVENT_LOOP = {
    "CustomEvent",
    "clearInterval",
    "clearTimeout",
    "queueMicrotask",
    "run",
    "setInterval",
    "setTimeout",
}


def surface_names() -> set[str]:
    if not SURFACE.exists():
        pytest.skip(f"{SURFACE} is not beside this checkout")
    block = re.search(r"from w3cws import \((.*?)\)", SURFACE.read_text(), re.S)
    assert block is not None, "the import block of w3c-surface.md was not found"
    code = "\n".join(line.split("#", 1)[0] for line in block.group(1).splitlines())
    return set(re.findall(r"\b([A-Za-z_]\w*)\s*,", code))


def test_all_is_the_surface_plus_extras() -> None:
    names = surface_names()
    assert len(names) == 12
    assert set(w3cws.__all__) == names | EXTRAS | EVENT_LOOP
    assert len(w3cws.__all__) == len(set(w3cws.__all__))


def test_every_name_is_importable() -> None:
    for name in w3cws.__all__:
        assert getattr(w3cws, name) is not None


def test_syntax_error_is_a_dom_exception_not_the_builtin() -> None:
    assert issubclass(w3cws.SyntaxError, w3cws.DOMException)
    assert not issubclass(w3cws.SyntaxError, SyntaxError)
    assert w3cws.SyntaxError("x").code == 12
    assert w3cws.InvalidStateError("x").code == 11
    assert w3cws.InvalidAccessError("x").code == 15


@pytest.mark.parametrize(
    ("name", "value"), [("CONNECTING", 0), ("OPEN", 1), ("CLOSING", 2), ("CLOSED", 3)]
)
async def test_ready_state_constants_on_class_and_instance(name: str, value: int) -> None:
    assert getattr(w3cws.WebSocket, name) == value
    ws = w3cws.WebSocket("ws://127.0.0.1:1/")  # a blocked port: fails later, never raises
    assert getattr(ws, name) == value
    ws.close()


def test_event_model_needs_no_event_loop() -> None:
    target = w3cws.EventTarget()
    seen: list[str] = []
    target.addEventListener("ping", lambda e: seen.append(e.type))
    assert target.dispatchEvent(w3cws.Event("ping")) is True
    assert seen == ["ping"]


def test_the_event_loop_additions_are_exported() -> None:
    assert set(w3cws.__all__) >= EVENT_LOOP
    for name in EVENT_LOOP:
        assert getattr(w3cws, name).__module__.startswith("w3cws")
