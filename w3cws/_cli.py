"""The ``w3cws`` command line: ``demo``, ``connect``, ``serve`` and ``proxy``.

Each command runs in one ``trio.run``. Output goes out a line at a time and is
flushed at once, so that another program (or a test) can read it as it
comes. Client traces use one convention: ``[type] readyState=N ...`` for an
event as a listener sees it at dispatch, ``> ws.method(...)`` for a call the
client makes. An expected failure (bad URL, refused connection, bad close
code, busy port...) prints one ``w3cws: error: ...`` line on stderr, never a
traceback; ``W3CWS_DEBUG=1`` lets unexpected exceptions through with theirs.

Exit codes: 0 success (for ``connect``: the close was clean), 1 failure (a
connection that could not be made or did not close cleanly), 2 bad usage,
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from w3cws import Blob, CloseEvent, DOMException, Event, MessageEvent, WebSocket, __version__
from w3cws._checks import check_close_arguments
from w3cws.testing import Behavior, ConnectionRecord, Send, Server, fault_proxy, parse_script, serve

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEFAULT_PORT = 8765

# Longer data is cut to this many characters (text) or bytes (binary) in traces.
_PREVIEW = 200
_EVENT_TYPES = ("open", "message", "error", "close")
_DEMO_TIMEOUT = 10.0
_DEMO_GREETING = "Welcome to the w3cws demo server"
_DEMO_PROTOCOL = "demo.v1"


class _CliError(Exception):
    """An expected failure, reported as one line; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _say(line: str) -> None:
    print(line, flush=True)


# --- Formatting ---------------------------------------------------------------


def _show(data: str | bytes, kind: str) -> str:
    """``data`` as a Python literal and its kind, cut after ``_PREVIEW`` units."""
    size = f"{len(data)} characters" if isinstance(data, str) else f"{len(data)} bytes"
    if len(data) > _PREVIEW:
        return f"{data[:_PREVIEW]!r}... ({kind}, {size})"
    return f"{data!r} ({kind})" if isinstance(data, str) else f"{data!r} ({kind}, {size})"


def _format_event(ws: WebSocket, event: Event) -> str:
    """One trace line for an event of ``ws``, with the readyState at dispatch."""
    head = f"[{event.type}] readyState={ws.readyState}"
    if isinstance(event, MessageEvent):
        data = event.data
        if isinstance(data, Blob):
            return f"{head} {data!r}"
        return f"{head} {_show(data, 'text' if isinstance(data, str) else 'arraybuffer')}"
    if isinstance(event, CloseEvent):
        return f"{head} code={event.code} reason={event.reason!r} wasClean={event.wasClean}"
    if event.type == "open":
        return f"{head} protocol={ws.protocol!r} extensions={ws.extensions!r}"
    return head


def _close_call(code: int | None, reason: str | None) -> str:
    args = [repr(value) for value in (code, reason) if value is not None]
    return f"> ws.close({', '.join(args)})"


# --- w3cws demo -------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    return trio.run(_demo)


async def _demo() -> int:
    behavior = Behavior(on_open=(Send(_DEMO_GREETING),))
    async with serve(behavior) as server:
        _say(f"# test server on {server.url}: it sends a greeting, then echoes every message")
        with trio.move_on_after(_DEMO_TIMEOUT):
            return await _demo_client(server.url + "/demo")
    raise _CliError(f"the demo did not finish within {_DEMO_TIMEOUT:g} s")


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

    _say(f"> ws = WebSocket({url!r}, [{_DEMO_PROTOCOL!r}])")
    ws = WebSocket(url, [_DEMO_PROTOCOL])
    _say("> ws.binaryType = 'arraybuffer'")
    ws.binaryType = "arraybuffer"

    def onopen(event: Event) -> None:
        _say(_format_event(ws, event))
        for data in outgoing:
            _say(f"> ws.send({data!r})")
            ws.send(data)

    def onmessage(event: MessageEvent) -> None:
        nonlocal received
        _say(_format_event(ws, event))
        if isinstance(event.data, str) and event.data.startswith("{"):
            _say(f"  JSON.parse(event.data) -> {json.loads(event.data)!r}")
        received += 1
        if received == expected:
            _say(_close_call(1000, "demo done"))
            ws.close(1000, "demo done")

    def onerror(event: Event) -> None:
        _say(_format_event(ws, event))

    def onclose(event: CloseEvent) -> None:
        nonlocal clean
        _say(_format_event(ws, event))
        clean = event.wasClean
        closed.set()

    ws.onopen = onopen
    ws.onmessage = onmessage
    ws.onerror = onerror
    ws.onclose = onclose
    await closed.wait()
    return EXIT_OK if clean else EXIT_FAILURE


# --- w3cws connect ------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    """Parse a ``--header 'Name: value'`` argument."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _close_arguments(values: Sequence[str] | None) -> tuple[int | None, str | None]:
    """Turn ``--close CODE [REASON]`` into close() arguments, checked as close() does.

    Raises:
        _CliError: not an integer code, or one close() would refuse.
    """
    if values is None:
        return 1000, None
    if len(values) > 2:
        raise _CliError("--close takes a code and at most one reason", EXIT_USAGE)
    try:
        code = int(values[0])
    except ValueError:
        raise _CliError(
            f"--close: the code must be an integer, not {values[0]!r}", EXIT_USAGE
        ) from None
    reason = values[1] if len(values) == 2 else None
    try:
        check_close_arguments(code, reason)
    except DOMException as exc:
        raise _CliError(f"--close: {exc}", EXIT_USAGE) from None
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
            _say(_format_event(self.ws, event))
        if event.type == "open":
            for line in self._backlog:
                self._send(line)
            self._backlog.clear()
        if isinstance(event, CloseEvent):
            self.clean = event.wasClean
            self.closed.set()
        self._settled.set()

    def _send(self, line: str) -> None:
        _say(f"> ws.send({line!r})")
        self.ws.send(line)

    def send_line(self, line: str) -> None:
        """Send ``line`` now if open, at open if still connecting, else never."""
        if self.ws.readyState == WebSocket.CONNECTING:
            self._backlog.append(line)
        elif self.ws.readyState == WebSocket.OPEN:
            self._send(line)

    def _close_now(self) -> None:
        if self.ws.readyState == WebSocket.OPEN:
            _say(_close_call(self._close_code, self._close_reason))
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


def _run_connect(args: argparse.Namespace) -> int:
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
        raise _CliError(str(exc), EXIT_USAGE) from None
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
        raise _CliError(f"could not connect to {ws.url}")
    return EXIT_OK if client.clean else EXIT_FAILURE


# --- w3cws serve ---------------------------------------------------------------


def _load_script(path: str, echo: bool) -> Behavior:
    """Read a ``--script`` file in the grammar of ``w3cws.testing.parse_script``.

    Raises:
        _CliError: the file cannot be read, or a line does not follow the grammar.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _CliError(f"cannot read script {path}: {exc}", EXIT_USAGE) from None
    try:
        return parse_script(text, Behavior(echo=echo))
    except ValueError as exc:
        raise _CliError(f"{path}: {exc}", EXIT_USAGE) from None


def _close_text(value: object) -> str:
    match value:
        case (None, _):
            return "close (empty body)"
        case (code, reason):
            return f"close code={code} reason={reason!r}"
    return f"close {value!r}"


def _record_line(record: ConnectionRecord, kind: str, value: object) -> str:
    """What one entry of ``record.events`` says, as a line of the server log."""
    match kind, value:
        case "request", _:
            return f"request {value}"
        case "rejected", _:
            return f"rejected the handshake with HTTP {value}"
        case "open", _:
            return f"open subprotocol={value!r} deflate={record.deflate_negotiated}"
        case "message", str() | bytes():
            return f"received {_show(value, 'text' if isinstance(value, str) else 'binary')}"
        case "sent", str() | bytes():
            return f"sent {_show(value, 'text' if isinstance(value, str) else 'binary')}"
        case "ping" | "pong", _:
            return f"received {kind} {value!r}"
        case "ping_sent", _:
            return f"sent ping {value!r}"
        case "fragments_sent", _:
            return f"sent fragments {value!r}"
        case "close", _:
            return f"received {_close_text(value)}"
        case "close_sent", _:
            return f"sent {_close_text(value)}"
        case "protocol_error", _:
            return f"protocol error: {_close_text(value)}"
        case "delay", _:
            return f"delay {value} s"
        case "stall", _:
            return "stalled (reading and answering nothing)"
        case "skipped", _:
            return f"skipped {value!r}: the connection is no longer open"
        case "error", _:
            return f"error: {value}"
        case "tcp_closed", _:
            return f"TCP closed by the {value}"
    return f"{kind} {value!r}"


async def _print_record(number: int, record: ConnectionRecord) -> None:
    """Print the events of one connection as they happen, until TCP closes."""
    printed = 0
    while True:
        for kind, value in record.events[printed:]:
            _say(f"[#{number}] {_record_line(record, kind, value)}")
            if kind == "tcp_closed":
                return
        printed = len(record.events)
        await record.wait_events(printed)


async def _print_connections(server: Server, nursery: trio.Nursery) -> None:
    count = 0
    while True:
        await server.wait_for_connections(count + 1)
        for record in server.connections[count:]:
            count += 1
            nursery.start_soon(_print_record, count, record)


def _port(text: str) -> int:
    """Parse ``--port``: an integer in 0..65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number in 0..65535, got {text!r}")
    return int(text)


def _run_serve(args: argparse.Namespace) -> int:
    behavior = _load_script(args.script, args.echo) if args.script else Behavior()
    return trio.run(_serve, behavior, args.host, args.port)


async def _serve(behavior: Behavior, host: str, port: int) -> int:
    # Catch the signals before saying "listening", so that whoever read that
    # line can stop the server at once.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with AsyncExitStack() as stack:
            try:
                server = await stack.enter_async_context(serve(behavior, host=host, port=port))
            except OSError as exc:
                reason = exc.strerror or exc
                raise _CliError(f"cannot listen on {host} port {port}: {reason}") from None
            _say(f"listening on {server.url}")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_print_connections, server, nursery)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()
    _say("server stopped")
    return EXIT_OK


# --- The parser and main ---------------------------------------------------------


def _run_proxy(args: argparse.Namespace) -> int:
    return fault_proxy.run_command(
        args.target,
        say=_say,
        host=args.host,
        latency=args.latency,
        bandwidth=args.bandwidth,
        chunk_size=args.chunk,
        reset_after=args.reset_after,
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w3cws",
        description="The browser's WebSocket API in Python: a demo, a client and a test server.",
    )
    parser.add_argument("--version", action="version", version=f"w3cws {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a browser-style client against the embedded test server",
        description="Start the test server on loopback, run a browser-style client "
        "against it and print its events as a browser console would.",
    )
    demo.set_defaults(run=_run_demo)

    connect = commands.add_parser(
        "connect",
        help="an interactive client: stdin lines are sent, events are printed",
        description="Connect to URL, send each line read from stdin as a text message "
        "and print every event with its readyState. End of input (Ctrl-D) closes.",
    )
    connect.add_argument("url", metavar="URL", help="ws://, wss://, http:// or https:// URL")
    connect.add_argument(
        "--protocol",
        action="append",
        default=[],
        metavar="P",
        help="offer subprotocol P (repeatable; offered in order)",
    )
    connect.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'K: V'",
        help="send an extra request header (repeatable)",
    )
    connect.add_argument(
        "--binary-type",
        choices=("blob", "arraybuffer"),
        default="blob",
        help="how binary messages arrive: blob (printed as its size, the default) "
        "or arraybuffer (printed as bytes)",
    )
    connect.add_argument("--origin", help="value of the Origin header (none by default)")
    connect.add_argument(
        "--no-deflate", action="store_true", help="do not offer permessage-deflate"
    )
    connect.add_argument(
        "--close",
        nargs="+",
        metavar=("CODE", "REASON"),
        help="close with CODE (1000 or 3000-4999) and an optional REASON at end of "
        "input (default: 1000, no reason)",
    )
    connect.set_defaults(run=_run_connect)

    serve_ = commands.add_parser(
        "serve",
        help="run the scriptable test server, printing connections and frames",
        description="Run the w3cws.testing server until Ctrl-C or SIGTERM. It echoes "
        "messages by default; the action grammar of w3cws.testing works in the "
        "request's query string and in --script files.",
    )
    serve_.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve_.add_argument(
        "--port",
        type=_port,
        metavar="N",
        default=DEFAULT_PORT,
        help="TCP port (%(default)s); 0 picks a free one",
    )
    serve_.add_argument(
        "--echo",
        action="store_true",
        help="echo every message back (the default unless --script is given)",
    )
    serve_.add_argument(
        "--script", metavar="FILE", help="actions to run on each new connection, one a line"
    )
    serve_.set_defaults(run=_run_serve)

    proxy = commands.add_parser(
        "proxy",
        help="run a TCP proxy that adds network faults in front of a server",
        description="Listen on loopback and forward each connection to TARGET, adding "
        "latency, a bandwidth limit, slicing into small segments, or a reset after some bytes "
        "(w3cws.testing.FaultProxy). Runs until Ctrl-C.",
    )
    proxy.add_argument("target", metavar="TARGET", help="the ws:// or wss:// server to forward to")
    proxy.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    proxy.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="added delay")
    proxy.add_argument(
        "--bandwidth", type=float, metavar="BYTES", help="at most BYTES a second each way"
    )
    proxy.add_argument("--chunk", type=int, metavar="BYTES", help="write at most BYTES at a time")
    proxy.add_argument(
        "--reset-after", type=int, metavar="BYTES", help="reset a connection after BYTES"
    )
    proxy.set_defaults(run=_run_proxy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; ``argv`` defaults to ``sys.argv[1:]``.

    Returns:
        The exit status (see the module docstring).
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error, already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except _CliError as exc:
        print(f"w3cws: error: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("W3CWS_DEBUG"):
            raise
        print(f"w3cws: error: {exc!r} (set W3CWS_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILURE
