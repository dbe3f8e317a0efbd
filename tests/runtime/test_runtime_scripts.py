"""Whole scripts in a child Python: run-to-completion as a browser or Node gives it.

The peer is a ``ServerThread`` on loopback; the refused port is a bound
socket that does not listen.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from w3cws.testing import Behavior, Send, ServerThread

SCRIPTS = Path(__file__).parent / "scripts"
WAIT = 120.0


@pytest.fixture
def refused_url() -> Iterator[str]:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{blocker.getsockname()[1]}"


@pytest.mark.parametrize("where", ["main", "worker"])
def test_a_thousand_sockets_made_in_a_loop_see_every_event(refused_url: str, where: str) -> None:
    # Handlers are assigned on the lines after each constructor, 1000 times;
    # half the sockets are refused at once. None may lose an event.
    with ServerThread(Behavior(on_open=[Send("hello")])) as server:
        child = subprocess.run(
            [sys.executable, str(SCRIPTS / "many_sockets.py"), server.url, refused_url, where],
            check=False,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert child.returncode == 0, child.stderr
    assert child.stdout == "1000/1000 sockets saw every event\n"
    # Nothing on stderr but the console's line for each refused socket.
    assert (
        child.stderr.splitlines()
        == [f"WebSocket connection to '{refused_url}/' failed: connection refused"] * 500
    )


def test_a_node_style_script_ends_when_everything_is_done() -> None:
    # Create, assign handlers, schedule the close with setTimeout, run the loop.
    with ServerThread(Behavior(on_open=[Send("hello")])) as server:
        source = textwrap.dedent(
            f"""
            import w3cws
            from w3cws import WebSocket, setTimeout

            ws = WebSocket({server.url!r})
            ws.onopen = lambda event: ws.send("ping")
            ws.onmessage = lambda event: print("message", event.data)
            ws.onclose = lambda event: print("close", event.code, event.reason, ws.readyState)
            setTimeout(lambda: ws.close(1000, "bye"), 100)
            w3cws.run()
            print("run returned")
            """
        )
        child = subprocess.run(
            [sys.executable, "-c", source], check=False, capture_output=True, text=True, timeout=30
        )
        server.wait_for_connections(1)
        record = server.connections[0]
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        "message hello",
        "message ping",
        "close 1000 bye 3",
        "run returned",
    ]
    assert child.stderr == ""
    assert (record.messages, record.close_code, record.close_reason) == (["ping"], 1000, "bye")
