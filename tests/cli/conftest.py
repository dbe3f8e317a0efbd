"""Running the ``w3cws`` command line as a subprocess, for the tests in this folder.

Rules: loopback only, every subprocess call and every wait bounded by
``TIMEOUT``, no process left behind (``Cli.start`` kills it on the way out).
The ``cli`` fixture runs ``python -m w3cws``; ``any_cli`` runs each test twice,
once that way and once through the installed ``w3cws`` console script.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trio

TIMEOUT = 10

# The console script installed beside this interpreter (the venv's bin directory).
_SCRIPT = shutil.which("w3cws", path=os.path.dirname(sys.executable))


@dataclass
class Running:
    """A started CLI process: its stdout read line by line, its stdin written to."""

    process: trio.Process
    _buffer: bytes = field(default=b"", init=False)

    async def line(self) -> str:
        """The next stdout line, without its line break.

        Raises:
            EOFError: stdout ended first.
        """
        assert self.process.stdout is not None
        with trio.fail_after(TIMEOUT):
            while b"\n" not in self._buffer:
                chunk = await self.process.stdout.receive_some()
                if not chunk:
                    raise EOFError(f"stdout ended; unfinished line: {self._buffer!r}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def lines(self, n: int) -> list[str]:
        """The next ``n`` stdout lines."""
        return [await self.line() for _ in range(n)]

    async def write(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(text.encode())

    async def end_input(self) -> None:
        """Close stdin: what Ctrl-D does at a terminal."""
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def finish(self) -> tuple[int, list[str], str]:
        """Wait for the exit; return the status, the stdout lines not read yet, stderr."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        with trio.fail_after(TIMEOUT):
            rest = self._buffer
            while chunk := await self.process.stdout.receive_some():
                rest += chunk
            errors = b""
            while chunk := await self.process.stderr.receive_some():
                errors += chunk
            status = await self.process.wait()
        self._buffer = b""
        return status, rest.decode().splitlines(), errors.decode()


@dataclass(frozen=True)
class Cli:
    """One way to run the command line: ``argv`` is everything before the arguments."""

    argv: tuple[str, ...]

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run to completion with ``stdin`` as input; stdout and stderr are captured."""
        return subprocess.run(
            [*self.argv, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    @asynccontextmanager
    async def start(self, *args: str) -> AsyncIterator[Running]:
        """Start in the background, with pipes; kill it on the way out if still running."""
        process = await trio.lowlevel.open_process(
            [*self.argv, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            yield Running(process)
        finally:
            if process.returncode is None:
                process.kill()
                with trio.move_on_after(TIMEOUT):
                    await process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    await trio.aclose_forcefully(stream)


@asynccontextmanager
async def serve_cli(cli: Cli, *args: str) -> AsyncIterator[tuple[Running, int]]:
    """``w3cws serve --port 0 ARGS``, once it listens: the process and its port."""
    async with cli.start("serve", "--port", "0", *args) as server:
        first = await server.line()
        match = re.fullmatch(r"listening on ws://127\.0\.0\.1:(\d+)", first)
        assert match, first
        yield server, int(match[1])


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def cli() -> Cli:
    """``python -m w3cws``."""
    return Cli((sys.executable, "-m", "w3cws"))


@pytest.fixture(params=["module", "script"])
def any_cli(request: pytest.FixtureRequest) -> Cli:
    """``python -m w3cws``, then the installed ``w3cws`` script."""
    if request.param == "module":
        return Cli((sys.executable, "-m", "w3cws"))
    assert _SCRIPT is not None, f"no w3cws script installed next to {sys.executable}"
    return Cli((_SCRIPT,))


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's tracebacks stay off, whatever the developer's environment says."""
    monkeypatch.delenv("W3CWS_DEBUG", raising=False)
