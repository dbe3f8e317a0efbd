"""W3CWSWarning: the browser's silent no-ops stay no-ops, and say so at the caller's line."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest
import trio

from w3cws import AbortController, Event, EventTarget, W3CWSWarning, WebSocket
from w3cws.testing import Behavior, Send, serve

pytest_plugins = ["pytester"]

WAIT = 5


@pytest.fixture
async def ws() -> AsyncIterator[WebSocket]:
    """An open socket on the test server; closed (and its close awaited) at teardown."""
    async with serve(Behavior(on_open=(Send("hi"),), echo=True)) as server:
        socket = WebSocket(server.url)
        await socket.wait_for("open", timeout=WAIT)
        yield socket
        socket.close()
        await socket.wait_for("close", timeout=WAIT)


def test_the_warning_is_a_user_warning_named_after_the_package() -> None:
    assert issubclass(W3CWSWarning, UserWarning)
    assert f"{W3CWSWarning.__module__}.{W3CWSWarning.__qualname__}" == "w3cws.W3CWSWarning"


async def test_misspelt_handler_warns_and_stays_a_plain_attribute(ws: WebSocket) -> None:
    received: list[object] = []
    with pytest.warns(W3CWSWarning, match="no 'onMessage' event handler") as caught:
        ws.onMessage = received.append  # type: ignore[attr-defined]
    [warning] = caught
    assert warning.filename == __file__
    assert "Did you mean 'onmessage'?" in str(warning.message)
    # As in a browser: a plain attribute, which no event calls.
    assert ws.onMessage == received.append  # type: ignore[attr-defined]
    assert ws.onmessage is None
    ws.send("echo me")
    await ws.wait_for("message", timeout=WAIT)
    assert received == []


@pytest.mark.parametrize("name", ["on_message", "onClose", "onopened"])
async def test_other_handler_lookalikes_warn(ws: WebSocket, name: str) -> None:
    with pytest.warns(W3CWSWarning, match=f"no '{name}' event handler"):
        setattr(ws, name, print)


async def test_plain_attributes_do_not_warn(ws: WebSocket) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", W3CWSWarning)
        ws.onmessage = print  # a real handler
        ws.one_more = 1  # type: ignore[attr-defined]  # not a handler name
        ws.online = True  # type: ignore[attr-defined]  # "on...", not callable, no handler like it
        ws.binaryType = "arraybuffer"
    assert ws.onmessage is print


async def test_non_callable_handler_warns_and_removes_the_handler(ws: WebSocket) -> None:
    ws.onmessage = print
    with pytest.warns(W3CWSWarning, match="cannot be called") as caught:
        ws.onmessage = "print"  # type: ignore[assignment]
    assert caught[0].filename == __file__
    assert ws.onmessage is None


async def test_ignored_binary_type_warns_and_keeps_the_value(ws: WebSocket) -> None:
    with pytest.warns(W3CWSWarning, match="'buffer' is ignored") as caught:
        ws.binaryType = "buffer"
    assert caught[0].filename == __file__
    assert ws.binaryType == "blob"


def test_unknown_listener_options_warn_and_the_known_ones_still_apply() -> None:
    target = EventTarget()
    seen: list[str] = []
    with pytest.warns(W3CWSWarning, match="unknown option\\(s\\) 'one', 'passiv'") as caught:
        target.addEventListener("x", lambda e: seen.append(e.type), {"one": True, "passiv": 1})
    assert caught[0].filename == __file__
    target.dispatchEvent(Event("x"))
    target.dispatchEvent(Event("x"))
    assert seen == ["x", "x"]  # "one" is not "once": the listener stays


def test_known_listener_options_do_not_warn() -> None:
    target = EventTarget()
    with warnings.catch_warnings():
        warnings.simplefilter("error", W3CWSWarning)
        options = {"capture": True, "once": True, "passive": True}
        target.addEventListener("x", print, {**options, "signal": AbortController().signal})
        target.addEventListener("y", print, True)


async def test_wait_for_a_type_the_socket_never_fires_warns(ws: WebSocket) -> None:
    with (
        pytest.warns(W3CWSWarning, match="never fires 'mesage' events") as caught,
        pytest.raises(TimeoutError),
    ):
        await ws.wait_for("mesage", timeout=0.01)
    assert caught[0].filename == __file__


async def test_wait_for_its_own_types_does_not_warn(ws: WebSocket) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", W3CWSWarning)
        ws.send("x")
        with trio.fail_after(WAIT):
            await ws.wait_for("message")


def test_filters_silence_it_or_make_it_an_error() -> None:
    # What docs/warnings.md tells users, with the standard warnings machinery.
    target = EventTarget()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=W3CWSWarning)
        target.addEventListener("x", print, {"onse": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error", W3CWSWarning)
        with pytest.raises(W3CWSWarning, match="'onse'"):
            target.addEventListener("y", print, {"onse": True})


PYTEST_PROJECT = """
from w3cws import EventTarget


def test_a_typo_in_the_options():
    EventTarget().addEventListener("x", print, {"onse": True})
"""


def test_pytest_W_option_makes_it_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")  # not the configuration of the project around it
    pytester.makepyfile(test_user=PYTEST_PROJECT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::w3cws.W3CWSWarning"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*W3CWSWarning: addEventListener() ignores*"])
