"""Inside a trio run: the socket lives on that run; waiting and other threads.

Async tests, run by pytest-trio's trio mode.
"""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from w3cws import CloseEvent, Event, InvalidStateError, MessageEvent, W3CWSWarning, WebSocket
from w3cws.testing import Behavior, Send, Server, serve
from w3cws.testing.pytest_plugin import ServerFactory

WAIT = 5.0


async def test_wait_for_in_trio(w3cws_server: Server) -> None:
    ws = WebSocket(w3cws_server.url)
    with pytest.raises(TimeoutError):
        await ws.wait_for("message", timeout=0)
    opened = await ws.wait_for("open", timeout=WAIT)
    ws.send("echo me")
    message = await ws.wait_for("message", timeout=WAIT)
    assert isinstance(message, MessageEvent) and message.data == "echo me"
    ws.close(1000)
    closed = await ws.wait_for("close", timeout=WAIT)
    assert isinstance(closed, CloseEvent) and closed.wasClean
    assert await ws.wait_for("open") is opened
    with pytest.raises(InvalidStateError, match="'error'"):
        await ws.wait_for("error")


async def test_wait_for_a_failure(w3cws_server_factory: ServerFactory) -> None:
    server = await w3cws_server_factory(Behavior(reject=403))
    ws = WebSocket(server.url)
    with trio.fail_after(WAIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.wait_for, "error")
            nursery.start_soon(ws.wait_for, "close")
            with pytest.raises(InvalidStateError, match="'open'"):
                await ws.wait_for("open")


async def test_listeners_run_before_the_waiter_resumes(w3cws_server: Server) -> None:
    ws = WebSocket(w3cws_server.url)
    order: list[str] = []

    def listener(event: Event) -> None:
        event.stopImmediatePropagation()  # does not hide the event from wait_for
        order.append("listener")

    ws.addEventListener("open", listener, True)
    await ws.wait_for("open", timeout=WAIT)
    order.append("waiter")
    assert order == ["listener", "waiter"]
    ws.close()
    await ws.wait_for("close", timeout=WAIT)


async def test_wait_for_a_script_event(w3cws_server: Server) -> None:
    ws = WebSocket(w3cws_server.url)
    async with trio.open_nursery() as nursery:
        got: list[Event] = []

        async def wait() -> None:
            with pytest.warns(W3CWSWarning, match="never fires 'custom' events"):
                got.append(await ws.wait_for("custom", timeout=WAIT))

        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        ws.dispatchEvent(Event("custom"))
    assert got[0].type == "custom" and not got[0].isTrusted
    ws.close()
    await ws.wait_for("close", timeout=WAIT)


async def test_wait_for_checks_its_arguments(w3cws_server: Server) -> None:
    ws = WebSocket(w3cws_server.url)
    with pytest.raises(ValueError):
        await ws.wait_for("open", timeout=-1)
    with pytest.raises(TypeError):
        await ws.wait_for(3)  # type: ignore[arg-type]
    ws.close()
    await ws.wait_for("close", timeout=WAIT)


async def test_send_and_close_from_worker_threads() -> None:
    async with trio.open_nursery() as nursery, serve(Behavior(on_open=[Send("hi")])) as server:
        ws = WebSocket(server.url, nursery=nursery)
        await ws.wait_for("open", timeout=WAIT)
        threads: list[str] = []
        ws.onmessage = lambda e: threads.append(threading.current_thread().name)
        for i in range(10):
            await trio.to_thread.run_sync(ws.send, f"m{i}")
        await trio.to_thread.run_sync(ws.close, 4000)
        closed = await ws.wait_for("close", timeout=WAIT)
        assert isinstance(closed, CloseEvent) and closed.code == 4000
        assert server.connections[0].messages == [f"m{i}" for i in range(10)]
        # Handlers stay on the run's own thread.
        assert set(threads) == {threading.current_thread().name}


async def test_a_nursery_from_outside_a_run_is_refused() -> None:
    async with trio.open_nursery() as nursery:
        result: list[BaseException] = []

        def outside() -> None:
            try:
                WebSocket("ws://127.0.0.1:1/", nursery=nursery)
            except RuntimeError as exc:
                result.append(exc)

        await trio.to_thread.run_sync(outside)
    assert "nursery=" in str(result[0])
