"""``w3cws connect``: an interactive client; stdin lines go out, events are printed."""

from __future__ import annotations

import argparse
import codecs
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence

import trio

from w3cws import CloseEvent, DOMException, Event, WebSocket
from w3cws._checks import check_close_arguments
from w3cws._cli.common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    close_call,
    format_event,
    say,
)

_EVENT_TYPES = ("open", "message", "error", "close")

HELP = "an interactive client: stdin lines are sent, events are printed"
DESCRIPTION = (
    "Connect to URL, send each line read from stdin as a text message "
    "and print every event with its readyState. End of input (Ctrl-D) closes."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``connect``."""
    parser.add_argument("url", metavar="URL", help="ws://, wss://, http:// or https:// URL")
    parser.add_argument(
        "--protocol",
        action="append",
        default=[],
        metavar="P",
        help="offer subprotocol P (repeatable; offered in order)",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'K: V'",
        help="send an extra request header (repeatable)",
    )
    parser.add_argument(
        "--binary-type",
        choices=("blob", "arraybuffer"),
        default="blob",
        help="how binary messages arrive: blob (printed as its size, the default) "
        "or arraybuffer (printed as bytes)",
    )
    parser.add_argument("--origin", help="value of the Origin header (none by default)")
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument(
        "--close",
        nargs="+",
        metavar=("CODE", "REASON"),
        help="close with CODE (1000 or 3000-4999) and an optional REASON at end of "
        "input (default: 1000, no reason)",
    )


def _header(text: str) -> tuple[str, str]:
    """Parse a ``--header 'Name: value'`` argument."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _close_arguments(values: Sequence[str] | None) -> tuple[int | None, str | None]:
    """Turn ``--close CODE [REASON]`` into close() arguments, checked as close() does.

    Raises:
        CliError: not an integer code, or one close() would refuse.
    """
    if values is None:
        return 1000, None
    if len(values) > 2:
        raise CliError("--close takes a code and at most one reason", EXIT_USAGE)
    try:
        code = int(values[0])
    except ValueError:
        raise CliError(
            f"--close: the code must be an integer, not {values[0]!r}", EXIT_USAGE
        ) from None
    reason = values[1] if len(values) == 2 else None
    try:
        check_close_arguments(code, reason)
    except DOMException as exc:
        raise CliError(f"--close: {exc}", EXIT_USAGE) from None
    return code, reason


class _Client:
    """The state of ``w3cws connect``: stdin lines go out, events are printed."""

    def __init__(self, ws: WebSocket, close_code: int | None, close_reason: str | None) -> None:
        self.ws = ws
        self.opened = False
        self.clean = False
        self.interrupted = False
        self.closed = trio.Event()
        self._settled = trio.Event()  # set once the socket leaves CONNECTING
        self._backlog: list[str] = []
        self._close_code = close_code
        self._close_reason = close_reason
        for event_type in _EVENT_TYPES:
            ws.addEventListener(event_type, self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type == "open":
            self.opened = True
        # A connection that never opened is reported once, as an error line.
        if self.opened:
            say(format_event(self.ws, event))
        if event.type == "open":
            for line in self._backlog:
                self._send(line)
            self._backlog.clear()
        if isinstance(event, CloseEvent):
            self.clean = event.wasClean
            self.closed.set()
        self._settled.set()

    def _send(self, line: str) -> None:
        say(f"> ws.send({line!r})")
        self.ws.send(line)

    def send_line(self, line: str) -> None:
        """Send ``line`` now if open, at open if still connecting, else never."""
        if self.ws.readyState == WebSocket.CONNECTING:
            self._backlog.append(line)
        elif self.ws.readyState == WebSocket.OPEN:
            self._send(line)

    def _close_now(self) -> None:
        if self.ws.readyState == WebSocket.OPEN:
            say(close_call(self._close_code, self._close_reason))
            self.ws.close(self._close_code, self._close_reason)

    async def close(self) -> None:
        """Close once the connection has opened (sending the backlog first)."""
        await self._settled.wait()
        self._close_now()

    def interrupt(self) -> None:
        """Ctrl-C: close now, giving up on a connection still being made."""
        self.interrupted = True
        if self.ws.readyState == WebSocket.CONNECTING:
            self.ws.close()
        else:
            self._close_now()


async def _read_lines(on_line: Callable[[str], None]) -> None:
    """Call ``on_line`` with each line of stdin (without its line break) until EOF.

    Reads the file descriptor in a worker thread, so that a terminal, a pipe
    and a file all work; the thread is abandoned if the reader is cancelled.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while True:
        try:
            chunk = await trio.to_thread.run_sync(os.read, 0, 65536, abandon_on_cancel=True)
        except OSError:
            chunk = b""
        pending += decoder.decode(chunk, final=not chunk)
        *lines, pending = pending.split("\n")
        for line in lines:
            on_line(line.removesuffix("\r"))
        if not chunk:
            break
    if pending:
        on_line(pending)


async def _stdin_then_close(client: _Client) -> None:
    await _read_lines(client.send_line)
    await client.close()


async def _watch_interrupts(
    client: _Client, interrupts: AsyncIterator[int], scope: trio.CancelScope
) -> None:
    """First Ctrl-C: close; a second one: stop waiting for the close."""
    async for _ in interrupts:
        if client.interrupted:
            scope.cancel()
            return
        client.interrupt()


def run(args: argparse.Namespace) -> int:
    """Run ``connect``; the exit status is 0 if the connection closed cleanly."""
    close_code, close_reason = _close_arguments(args.close)
    return trio.run(_connect, args, close_code, close_reason)


async def _connect(
    args: argparse.Namespace, close_code: int | None, close_reason: str | None
) -> int:
    try:
        ws = WebSocket(
            args.url,
            args.protocol,
            headers=args.header,
            origin=args.origin,
            deflate=not args.no_deflate,
        )
    except (DOMException, ValueError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    ws.binaryType = args.binary_type
    client = _Client(ws, close_code, close_reason)
    with trio.open_signal_receiver(signal.SIGINT) as interrupts:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stdin_then_close, client)
            nursery.start_soon(_watch_interrupts, client, interrupts, nursery.cancel_scope)
            await client.closed.wait()
            nursery.cancel_scope.cancel()
    if client.interrupted:
        return EXIT_INTERRUPTED
    if not client.opened:
        raise CliError(f"could not connect to {ws.url}")
    return EXIT_OK if client.clean else EXIT_FAILURE
