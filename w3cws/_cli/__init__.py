"""The ``w3cws`` command line: ``demo``, ``connect``, ``serve`` and ``proxy``.

Each command is a module of this package with ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args) -> int``; this module wires them
into one parser.

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
import os
import sys
from collections.abc import Callable, Sequence

from w3cws import __version__
from w3cws._cli import connect, demo, proxy, serve
from w3cws._cli.common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CliError, Command

__all__ = ["main"]

_COMMANDS: dict[str, Command] = {
    "demo": demo,
    "connect": connect,
    "serve": serve,
    "proxy": proxy,
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="w3cws",
        description="The browser's WebSocket API in Python: a demo, a client and a test server.",
    )
    parser.add_argument("--version", action="version", version=f"w3cws {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _COMMANDS.items():
        command = commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
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
    except CliError as exc:
        print(f"w3cws: error: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("W3CWS_DEBUG"):
            raise
        print(f"w3cws: error: {exc!r} (set W3CWS_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILURE
