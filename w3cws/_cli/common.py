"""What every command shares: exit codes, the one-line error, trace formatting."""

from __future__ import annotations

import argparse
from typing import Protocol

from w3cws import Blob, CloseEvent, Event, MessageEvent, WebSocket

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Longer data is cut to this many characters (text) or bytes (binary) in traces.
PREVIEW = 200


class Command(Protocol):
    """What a command module provides (each of them matches this protocol)."""

    HELP: str
    DESCRIPTION: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class CliError(Exception):
    """An expected failure, reported as one line; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def say(line: str) -> None:
    """Print one line of output and flush it, so a reader sees it at once."""
    print(line, flush=True)


def show(data: str | bytes, kind: str) -> str:
    """``data`` as a Python literal and its kind, cut after ``PREVIEW`` units."""
    size = f"{len(data)} characters" if isinstance(data, str) else f"{len(data)} bytes"
    if len(data) > PREVIEW:
        return f"{data[:PREVIEW]!r}... ({kind}, {size})"
    return f"{data!r} ({kind})" if isinstance(data, str) else f"{data!r} ({kind}, {size})"


def format_event(ws: WebSocket, event: Event) -> str:
    """One trace line for an event of ``ws``, with the readyState at dispatch."""
    head = f"[{event.type}] readyState={ws.readyState}"
    if isinstance(event, MessageEvent):
        data = event.data
        if isinstance(data, Blob):
            return f"{head} {data!r}"
        return f"{head} {show(data, 'text' if isinstance(data, str) else 'arraybuffer')}"
    if isinstance(event, CloseEvent):
        return f"{head} code={event.code} reason={event.reason!r} wasClean={event.wasClean}"
    if event.type == "open":
        return f"{head} protocol={ws.protocol!r} extensions={ws.extensions!r}"
    return head


def close_call(code: int | None, reason: str | None) -> str:
    """The trace line of a ``ws.close(...)`` call, with the arguments given."""
    args = [repr(value) for value in (code, reason) if value is not None]
    return f"> ws.close({', '.join(args)})"
