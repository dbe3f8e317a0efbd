"""``w3cws demo``: a browser-style client against the embedded test server."""

from __future__ import annotations

import argparse
import json

import trio

from w3cws import CloseEvent, Event, MessageEvent, WebSocket
from w3cws._cli.common import EXIT_FAILURE, EXIT_OK, CliError, close_call, format_event, say
from w3cws.testing import Behavior, Send, serve

_DEMO_TIMEOUT = 10.0
_DEMO_GREETING = "Welcome to the w3cws demo server"
_DEMO_PROTOCOL = "demo.v1"


HELP = "run a browser-style client against the embedded test server"
DESCRIPTION = (
    "Start the test server on loopback, run a browser-style client "
    "against it and print its events as a browser console would."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``demo`` takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Run the demo; the exit status is 0 if its connection closed cleanly."""
    return trio.run(_demo)


async def _demo() -> int:
    behavior = Behavior(on_open=(Send(_DEMO_GREETING),))
    async with serve(behavior) as server:
        say(f"# test server on {server.url}: it sends a greeting, then echoes every message")
        with trio.move_on_after(_DEMO_TIMEOUT):
            return await _demo_client(server.url + "/demo")
    raise CliError(
        f"the demo did not finish within {_DEMO_TIMEOUT:g} s; "
        "the machine may be too busy: run it again"
    )


async def _demo_client(url: str) -> int:
    """The demo's client, written as the browser JavaScript it ports."""
    outgoing: list[str | bytes] = [
        "hello",
        json.dumps({"type": "chat", "text": "hi"}),
        bytes([0, 1, 2, 255]),
    ]
    expected = 1 + len(outgoing)  # the greeting, then the echoes
    received = 0
    closed = trio.Event()
    clean = False

    say(f"> ws = WebSocket({url!r}, [{_DEMO_PROTOCOL!r}])")
    ws = WebSocket(url, [_DEMO_PROTOCOL])
    say("> ws.binaryType = 'arraybuffer'")
    ws.binaryType = "arraybuffer"

    def onopen(event: Event) -> None:
        say(format_event(ws, event))
        for data in outgoing:
            say(f"> ws.send({data!r})")
            ws.send(data)

    def onmessage(event: MessageEvent) -> None:
        nonlocal received
        say(format_event(ws, event))
        if isinstance(event.data, str) and event.data.startswith("{"):
            say(f"  JSON.parse(event.data) -> {json.loads(event.data)!r}")
        received += 1
        if received == expected:
            say(close_call(1000, "demo done"))
            ws.close(1000, "demo done")

    def onerror(event: Event) -> None:
        say(format_event(ws, event))

    def onclose(event: CloseEvent) -> None:
        nonlocal clean
        say(format_event(ws, event))
        clean = event.wasClean
        closed.set()

    ws.onopen = onopen
    ws.onmessage = onmessage
    ws.onerror = onerror
    ws.onclose = onclose
    await closed.wait()
    return EXIT_OK if clean else EXIT_FAILURE
