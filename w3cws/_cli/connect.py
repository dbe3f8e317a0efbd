"""``w3cws connect``: an interactive client; stdin lines go out, events are printed."""

from __future__ import annotations

import argparse
import codecs
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable

import trio

from w3cws import CloseEvent, DOMException, Event, WebSocket
from w3cws._checks import check_close_arguments, check_protocols
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
from w3cws._engine import diagnostics
from w3cws._url import parse_websocket_url
from w3cws._websocket import _check_header_value, _check_headers

_EVENT_TYPES = ("open", "message", "error", "close")

HELP = "an interactive client: stdin lines are sent, events are printed"
DESCRIPTION = (
    "Connect to URL, send each line read from stdin as a text message "
    "and print every event with its readyState. End of input (Ctrl-D) closes, "
    "unless --keep-open is given."
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
    parser.add_argument(
        "--origin", type=_origin, help="value of the Origin header (none by default)"
    )
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the handshake and every frame sent (>) and received (<) on stderr",
    )
    parser.add_argument(
        "--close",
        type=_close_code,
        default=1000,
        metavar="CODE",
        help="the close code sent at the end of input: 1000 (the default) or 3000-4999",
    )
    parser.add_argument(
        "--reason",
        type=_close_reason,
        metavar="TEXT",
        help="the close reason sent with it: at most 123 bytes of UTF-8 (none by default)",
    )
    parser.add_argument(
        "--keep-open",
        action="store_true",
        help="at the end of input, keep printing events until the server closes "
        "or Ctrl-C, instead of closing",
    )


def _header(text: str) -> tuple[str, str]:
    """Parse a ``--header 'Name: value'`` argument, checked as the constructor does."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(
            f"expected 'Name: value', such as --header 'Authorization: Bearer abc'; got {text!r}"
        )
    try:
        ((name, value),) = _check_headers([(name.strip(), value)])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, value


def _origin(text: str) -> str:
    """Parse ``--origin``, checked as the constructor does."""
    try:
        return _check_header_value("Origin", text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _close_code(text: str) -> int:
    """Parse ``--close CODE``: a code ``close()`` accepts."""
    try:
        code = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer close code, 1000 or 3000-4999; got {text!r}"
        ) from None
    try:
        check_close_arguments(code, None)
    except DOMException as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return code


def _close_reason(text: str) -> str:
    """Parse ``--reason TEXT``: a reason ``close()`` accepts."""
    try:
        check_close_arguments(1000, text)
    except DOMException as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} Shorten it.") from None
    return text


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


async def _stdin_then_close(client: _Client, keep_open: bool) -> None:
    await _read_lines(client.send_line)
    if not keep_open:
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
    # The constructor's checks, each reported with the argument it is about.
    try:
        check_protocols(args.protocol)
    except DOMException as exc:
        raise CliError(f"--protocol: {exc.message}", EXIT_USAGE) from None
    try:
        parse_websocket_url(args.url, None)
    except DOMException as exc:
        raise CliError(f"URL {args.url!r}: {exc.message}", EXIT_USAGE) from None
    return trio.run(_connect, args)


async def _connect(args: argparse.Namespace) -> int:
    if args.verbose:
        diagnostics.print_frames(sys.stderr)
    with diagnostics.capture_failures() as causes:
        return await _connect_and_run(args, causes)


async def _connect_and_run(args: argparse.Namespace, causes: list[str]) -> int:
    ws = WebSocket(
        args.url,
        args.protocol,
        headers=args.header,
        origin=args.origin,
        deflate=not args.no_deflate,
    )
    ws.binaryType = args.binary_type
    client = _Client(ws, args.close, args.reason)
    with trio.open_signal_receiver(signal.SIGINT) as interrupts:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_stdin_then_close, client, args.keep_open)
            nursery.start_soon(_watch_interrupts, client, interrupts, nursery.cancel_scope)
            await client.closed.wait()
            nursery.cancel_scope.cancel()
    if client.interrupted:
        return EXIT_INTERRUPTED
    if not client.opened:
        cause = causes[-1] if causes else f"could not connect to {ws.url}"
        if not causes or cause.endswith("connection refused"):
            cause += (
                ": is a WebSocket server listening there?"
                " (`w3cws serve` starts one on ws://127.0.0.1:8765)"
            )
        raise CliError(cause)
    if causes:
        print(f"w3cws: {causes[-1]}", file=sys.stderr, flush=True)
    return EXIT_OK if client.clean else EXIT_FAILURE
