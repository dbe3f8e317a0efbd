"""The package facade: exactly the WHATWG names, plus documented Python extras."""

from __future__ import annotations

from pathlib import Path

import pytest

import w3cws

# The names of the WHATWG surface: what `new WebSocket(url)` code uses.
SURFACE = {
    "AbortController",
    "AbortSignal",
    "Blob",
    "CloseEvent",
    "DOMException",
    "Event",
    "EventTarget",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "SyntaxError",
    "WebSocket",
}
# The event loop's names (HTML timers, microtasks, CustomEvent; run() for a thread's loop).
EVENT_LOOP = {
    "CustomEvent",
    "clearInterval",
    "clearTimeout",
    "queueMicrotask",
    "run",
    "setInterval",
    "setTimeout",
}
# Python conveniences beside the surface.
EXTRAS = {
    "CloseCode",
    "CloseCodeInfo",
    "TraceEvent",
    "W3CWSWarning",
    "describe_close_code",
    "subscribe_trace",
    "__version__",
}
REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def test_all_is_the_surface_plus_extras() -> None:
    assert set(w3cws.__all__) == SURFACE | EVENT_LOOP | EXTRAS
    assert len(w3cws.__all__) == len(set(w3cws.__all__))


def test_reference_documents_every_public_name() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    undocumented = {name for name in w3cws.__all__ if name not in reference}
    assert not undocumented, f"docs/reference.md does not mention {sorted(undocumented)}"


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
