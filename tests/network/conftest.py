"""Fixtures for real networks: proxy servers, TLS material, recording WebSockets.

The proxies are ``pproxy`` (an independently written asyncio proxy server:
HTTP CONNECT, SOCKS4, SOCKS5, with or without credentials, optionally over
TLS), each started as a child process for one test and killed after it. Its
``-v`` output names every tunnel it opens (``http 127.0.0.1:P -> HOST:PORT``),
which is how the tests see that a connection really went through it.

Targets are w3cws's own test server and the ``websockets`` library's, on
loopback; TLS certificates come from one ``trustme`` CA for proxies and
targets alike.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from w3cws import CloseEvent, MessageEvent, WebSocket

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without proxy variables (a developer's own would interfere)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@dataclass
class Recorded:
    """A WebSocket's events in order, recorded by listeners."""

    ws: WebSocket
    events: list[tuple[Any, ...]] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)
    opened: trio.Event = field(default_factory=trio.Event)
    changed: trio.Event = field(default_factory=trio.Event)

    @property
    def types(self) -> list[str]:
        return [e[0] for e in self.events]

    async def wait_open(self, timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            await self.opened.wait()

    async def wait_closed(self, timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            await self.done.wait()

    @property
    def messages(self) -> list[Any]:
        return [e[1] for e in self.events if e[0] == "message"]

    async def wait_messages(self, count: int, timeout: float = 10) -> list[Any]:
        """The first ``count`` messages, once they arrived (bounded)."""
        with trio.fail_after(timeout):
            while len(self.messages) < count:
                await self.changed.wait()
        return self.messages[:count]


def record(ws: WebSocket) -> Recorded:
    r = Recorded(ws)

    def on_event(event: Any) -> None:
        r.changed.set()
        r.changed = trio.Event()
        if isinstance(event, CloseEvent):
            r.events.append(("close", event.code, event.wasClean))
            r.done.set()
        elif isinstance(event, MessageEvent):
            r.events.append(("message", event.data))
        else:
            r.events.append((event.type,))
            if event.type == "open":
                r.opened.set()

    for kind in ("open", "message", "error", "close"):
        ws.addEventListener(kind, on_event)
    return r


@dataclass
class Tls:
    """One CA, a certificate for loopback, and contexts that use them."""

    ca: trustme.CA
    cert_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "proxy.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(path))
    return Tls(ca, path)


@dataclass
class RunningProxy:
    """A pproxy child process and the lines it printed."""

    url: str
    lines: list[str]
    changed: trio.Event

    async def wait_for_tunnel(self, target_port: int, timeout: float = 10) -> str:
        """The log line of a tunnel to ``target_port`` (waits for it, bounded)."""
        pattern = re.compile(rf"-> [\w.:\[\]]+:{target_port}\b")
        with trio.fail_after(timeout):
            while True:
                for line in self.lines:
                    if pattern.search(line):
                        return line
                await self.changed.wait()

    def tunnels(self) -> list[str]:
        return [line for line in self.lines if " -> " in line]


@asynccontextmanager
async def pproxy(
    schemes: str, *, auth: str | None = None, tls_file: Path | None = None
) -> AsyncIterator[RunningProxy]:
    """Run ``pproxy -l SCHEMES://127.0.0.1:0[#auth]`` for the block.

    ``schemes`` is pproxy's list (``http``, ``socks5``, ``http+socks5``,
    ``http+ssl``); the yielded URL uses the first, or ``https`` with TLS.
    """
    listen = f"{schemes}://127.0.0.1:0" + (f"#{auth}" if auth else "")
    # --auth 0: pproxy would otherwise trust an address for 30 days after
    # one successful authentication.
    command = [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v", "--auth", "0"]
    if tls_file is not None:
        command += ["--ssl", str(tls_file)]
    lines: list[str] = []
    running = RunningProxy("", lines, trio.Event())
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    stdout = process.stdout

    async def read_lines() -> None:
        buffer = b""
        async for chunk in stdout:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines.extend(line.decode(errors="replace") for line in complete)
            running.changed.set()
            running.changed = trio.Event()
        running.changed.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_lines)
            try:
                with trio.fail_after(30):
                    while not any("Serving on" in line for line in lines):
                        if process.poll() is not None:
                            pytest.fail(f"pproxy exited: {lines}")
                        await running.changed.wait()
                serving = next(line for line in lines if "Serving on" in line)
                found = re.search(r"127\.0\.0\.1:(\d+)", serving)
                assert found is not None, serving
                scheme = schemes.split("+", maxsplit=1)[0]
                if tls_file is not None and scheme == "http":
                    scheme = "https"
                credentials = f"{auth}@" if auth else ""
                running.url = f"{scheme}://{credentials}127.0.0.1:{found[1]}"
                yield running
            finally:
                # Killed, its stdout ends and the reader with it.
                process.kill()
    finally:
        with trio.CancelScope(shield=True):
            await process.wait()
            await stdout.aclose()


class FailingResolver(trio.abc.HostnameResolver):
    """DNS that knows no name, so the test needs no network."""

    async def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def getnameinfo(self, sockaddr: Any, flags: int) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
