"""``w3cws serve``: the scriptable test server, printing connections and frames."""

from __future__ import annotations

import argparse
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from w3cws._cli.common import EXIT_OK, EXIT_USAGE, CliError, say, show
from w3cws.testing import Behavior, ConnectionRecord, Server, parse_script, serve

DEFAULT_PORT = 8765

HELP = "run the scriptable test server, printing connections and frames"
DESCRIPTION = (
    "Run the w3cws.testing server until Ctrl-C or SIGTERM. It echoes "
    "messages by default; the action grammar of w3cws.testing works in the "
    "request's query string and in --script files."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port",
        type=_port,
        metavar="N",
        default=DEFAULT_PORT,
        help="TCP port (%(default)s); 0 picks a free one",
    )
    parser.add_argument(
        "--echo",
        action="store_true",
        help="echo every message back (the default unless --script is given)",
    )
    parser.add_argument(
        "--script", metavar="FILE", help="actions to run on each new connection, one a line"
    )


def _load_script(path: str, echo: bool) -> Behavior:
    """Read a ``--script`` file in the grammar of ``w3cws.testing.parse_script``.

    Raises:
        CliError: the file cannot be read, or a line does not follow the grammar.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read script {path}: {exc}", EXIT_USAGE) from None
    try:
        return parse_script(text, Behavior(echo=echo))
    except ValueError as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from None


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
            return f"received {show(value, 'text' if isinstance(value, str) else 'binary')}"
        case "sent", str() | bytes():
            return f"sent {show(value, 'text' if isinstance(value, str) else 'binary')}"
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
            say(f"[#{number}] {_record_line(record, kind, value)}")
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


def run(args: argparse.Namespace) -> int:
    """Run ``serve`` until Ctrl-C or SIGTERM."""
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
                raise CliError(
                    f"cannot listen on {host} port {port}: {reason}; "
                    "choose another with --port N (--port 0 picks a free one)"
                ) from None
            say(f"listening on {server.url}")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_print_connections, server, nursery)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()
    say("server stopped")
    return EXIT_OK
