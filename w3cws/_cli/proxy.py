"""``w3cws proxy``: a TCP proxy that adds network faults in front of a server."""

from __future__ import annotations

import argparse
import math

from w3cws._cli.common import EXIT_USAGE, CliError, say
from w3cws.testing import fault_proxy

HELP = "run a TCP proxy that adds network faults in front of a server"
DESCRIPTION = (
    "Listen on loopback and forward each connection to TARGET, adding latency, a "
    "bandwidth limit, slicing into small segments, or a reset after some bytes "
    "(w3cws.testing.FaultProxy). Runs until Ctrl-C."
)


def _seconds(text: str) -> float:
    """Parse ``--latency``: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, such as 0.05, got {text!r}")
    return value


def _rate(text: str) -> float:
    """Parse ``--bandwidth``: a finite number of bytes a second > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected bytes a second > 0, such as 65536, got {text!r}"
        )
    return value


def _chunk(text: str) -> int:
    """Parse ``--chunk``: a whole number of bytes > 0."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes > 0, got {text!r}")
    return int(text)


def _reset_after(text: str) -> int:
    """Parse ``--reset-after``: a whole number of bytes (0 resets at once)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``proxy``."""
    parser.add_argument("target", metavar="TARGET", help="the ws:// or wss:// server to forward to")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="added delay each way"
    )
    parser.add_argument(
        "--bandwidth", type=_rate, metavar="BYTES", help="at most BYTES a second each way"
    )
    parser.add_argument(
        "--chunk", type=_chunk, metavar="BYTES", help="write at most BYTES at a time"
    )
    parser.add_argument(
        "--reset-after", type=_reset_after, metavar="BYTES", help="reset a connection after BYTES"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``proxy`` until Ctrl-C."""
    try:
        return fault_proxy.run_command(
            args.target,
            say=say,
            host=args.host,
            latency=args.latency,
            bandwidth=args.bandwidth,
            chunk_size=args.chunk,
            reset_after=args.reset_after,
        )
    except ValueError as exc:
        raise CliError(f"argument TARGET: {exc}", EXIT_USAGE) from None
