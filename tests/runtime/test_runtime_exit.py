"""Scripts and ``python -i`` sessions: messages arrive, and the process exits promptly.

Each test runs a child Python against a ``ServerThread`` on loopback and
checks what the server saw: a socket still open at exit says Close 1001
(going away), as a page does when it unloads.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from w3cws.testing import Behavior, ConnectionRecord, Send, ServerThread

# Exit must not wait on sockets: the atexit handler gives them 3 s at most,
# and on loopback they need a few milliseconds.
EXIT_WITHIN = 3.0
WAIT = 10.0


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(Behavior(on_open=[Send("hello")])) as running:
        yield running


def closed_record(server: ServerThread) -> ConnectionRecord:
    server.wait_for_connections(1)
    record = server.connections[0]
    deadline = time.monotonic() + WAIT
    while record.tcp_closed_by is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return record


def script(url: str, end: str) -> str:
    return textwrap.dedent(
        f"""
        import threading, time
        from w3cws import WebSocket
        ws = WebSocket({url!r})
        opened, echoed = threading.Event(), threading.Event()
        ws.addEventListener("open", lambda e: opened.set())
        def on_message(e):
            print("got", e.data, flush=True)
            if e.data == "from the script":
                echoed.set()
        ws.onmessage = on_message
        # Open already (before the listener came), or wait for it.
        ws.readyState == WebSocket.OPEN or opened.wait(5)
        ws.send("from the script")
        echoed.wait(5)
        """
    ) + textwrap.dedent(end)


def run_child(source: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a script; return it and how long its process took to exit after its end."""
    source += '\nimport time\nprint("END", time.time(), flush=True)\n'
    child = subprocess.run(
        [sys.executable, "-c", source], check=False, capture_output=True, text=True, timeout=WAIT
    )
    exited = time.time()
    end_line = [line for line in child.stdout.splitlines() if line.startswith("END ")]
    assert end_line, child.stderr
    return child, exited - float(end_line[0].split()[1])


def test_a_script_left_open_exits_and_says_going_away(server: ServerThread) -> None:
    child, exit_time = run_child(script(server.url, ""))
    assert child.returncode == 0, child.stderr
    # (Whether "hello" is seen depends on onmessage being set before it comes.)
    assert "got from the script" in child.stdout
    assert exit_time < EXIT_WITHIN
    record = closed_record(server)
    assert record.messages == ["from the script"]
    assert record.close_code == 1001


def test_a_script_that_closes_exits(server: ServerThread) -> None:
    child, exit_time = run_child(script(server.url, "ws.close(1000)\n"))
    assert child.returncode == 0, child.stderr
    assert exit_time < EXIT_WITHIN
    record = closed_record(server)
    # Either our Close went out, or exit came first and said going away.
    assert record.close_code in (1000, 1001)
    assert child.stderr == ""


def test_ctrl_c_in_a_script(server: ServerThread) -> None:
    source = script(server.url, 'print("waiting", flush=True)\ntime.sleep(60)\n')
    child = subprocess.Popen(
        [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        while "waiting" not in child.stdout.readline():
            pass
        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        child.wait(WAIT)
        assert time.monotonic() - interrupted < EXIT_WITHIN
    finally:
        child.kill()
        child.communicate()
    assert closed_record(server).close_code == 1001


def test_python_i_through_a_pipe(server: ServerThread) -> None:
    session = (
        "from w3cws import WebSocket\n"
        "import threading\n"
        "opened, got = threading.Event(), threading.Event()\n"
        f"ws = WebSocket({server.url!r})\n"
        "ws.addEventListener('open', lambda e: opened.set())\n"
        "ws.onmessage = lambda e: (print('got', e.data), e.data == 'typed' and got.set())\n"
        "_ = ws.readyState == WebSocket.OPEN or opened.wait(5)\n"
        "ws.send('typed')\n"
        "_ = got.wait(5)\n"
    )
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-i", "-q"],
        check=False,
        input=session,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    # Start-up, a round trip and exit.
    assert time.monotonic() - started < EXIT_WITHIN + 2
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == "got typed"
    assert closed_record(server).close_code == 1001


def read_until(fd: int, marker: bytes, timeout: float = WAIT) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{marker!r} not seen; got {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_python_i_in_a_terminal(server: ServerThread) -> None:
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-i", "-q"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
        env={**os.environ, "TERM": "dumb", "PYTHON_BASIC_REPL": "1"},
    )
    os.close(terminal)
    try:
        read_until(controller, b">>> ")
        os.write(controller, b"from w3cws import WebSocket\n")
        os.write(controller, f"ws = WebSocket({server.url!r})\n".encode())
        os.write(controller, b"ws.onmessage = lambda e: print('got', e.data)\n")
        os.write(controller, b"import threading; opened = threading.Event()\n")
        os.write(controller, b"ws.addEventListener('open', lambda e: opened.set())\n")
        os.write(controller, b"_ = ws.readyState == WebSocket.OPEN or opened.wait(5)\n")
        os.write(controller, b"ws.send('typed')\n")
        # The handler prints from the background thread while the prompt waits.
        read_until(controller, b"got typed")
        ended = time.monotonic()
        os.write(controller, b"\x04")  # Ctrl-D: end of input, the session ends
        child.wait(WAIT)
        assert time.monotonic() - ended < EXIT_WITHIN
        assert child.returncode == 0
    finally:
        child.kill()
        child.wait()
        os.close(controller)
    assert closed_record(server).close_code == 1001
