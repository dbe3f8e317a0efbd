"""Scripts and ``python -i`` sessions: messages arrive, and the process exits promptly.

Each test runs a child Python against a ``ServerThread`` on loopback and
checks what the server saw: a socket still open at exit says Close 1001
(going away), as a page does when it unloads. A script's events come while
it runs ``w3cws.run()``; a prompt's while it waits for input.
"""

from __future__ import annotations

import contextlib
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

from .servers import closed_records

# Exit must not wait on sockets: the atexit handler gives them 3 s at most,
# and on loopback they need a few milliseconds.
EXIT_WITHIN = 3.0
WAIT = 30.0  # a bound, not a pause: generous for loaded CI machines


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(Behavior(on_open=[Send("hello")])) as running:
        yield running


def closed_record(server: ServerThread) -> ConnectionRecord:
    """The first connection, once its TCP connection is closed (or WAIT passed)."""
    [record] = closed_records(server)
    return record


def script(url: str, end: str) -> str:
    return textwrap.dedent(
        f"""
        import time
        import w3cws
        from w3cws import WebSocket
        got = []
        ws = WebSocket({url!r})
        def on_message(event):
            got.append(event.data)
            print("got", event.data, flush=True)
        ws.onmessage = on_message
        w3cws.run(until=lambda: ws.readyState == WebSocket.OPEN, timeout=5)
        ws.send("from the script")
        w3cws.run(until=lambda: "from the script" in got, timeout=5)
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
    # The handler set on the line after the constructor sees the greeting.
    assert child.stdout.splitlines()[:2] == ["got hello", "got from the script"]
    assert exit_time < EXIT_WITHIN
    # Every event was dispatched: nothing to warn about.
    assert child.stderr == ""
    record = closed_record(server)
    assert record.messages == ["from the script"]
    assert record.close_code == 1001


def test_a_script_that_closes_exits(server: ServerThread) -> None:
    end = 'ws.onclose = lambda e: print("close", e.code)\nws.close(1000)\nw3cws.run(timeout=5)\n'
    child, exit_time = run_child(script(server.url, end))
    assert child.returncode == 0, child.stderr
    assert exit_time < EXIT_WITHIN
    assert "close 1000" in child.stdout
    record = closed_record(server)
    assert record.close_code == 1000
    assert child.stderr == ""


def test_a_script_that_never_runs_the_loop_is_warned(server: ServerThread) -> None:
    # The script ends once the test saw its connection; its open and greeting
    # were never dispatched, and the warning says how to get them.
    source = textwrap.dedent(
        f"""
        import sys
        from w3cws import WebSocket
        ws = WebSocket({server.url!r})
        ws.onopen = lambda e: print("open")
        sys.stdin.readline()
        print("END", __import__("time").time(), flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", source],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        server.wait_for_connections(1)
        out, err = child.communicate("go\n", timeout=WAIT)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    assert "open" not in out.split()
    # The open event was queued, or the socket was still connecting.
    assert "RuntimeWarning" in err
    assert (
        "event(s) of 1 socket(s) were never dispatched" in err
        or "the events of 1 socket(s) still connecting or open were never dispatched" in err
    )
    assert "w3cws.run()" in err
    # Going away: Close 1001 if the client had read the handshake response
    # by then, else the attempt is dropped; either way the connection ends.
    record = closed_record(server)
    assert record.tcp_closed_by is not None
    assert record.close_code in (1001, None)


@pytest.mark.parametrize("wait", ["time.sleep(60)", "w3cws.run()"])
def test_ctrl_c_in_a_script(server: ServerThread, wait: str) -> None:
    # Ctrl-C in the script's own code, or inside w3cws.run(): either way the
    # socket says going away and the process ends promptly.
    source = script(server.url, f'print("waiting", flush=True)\n{wait}\n')
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
    # Lines are written one at a time, each after the output of the last: the
    # events come while the prompt waits on the pipe for the next line.
    child = subprocess.Popen(
        [sys.executable, "-i", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        # The socket and its handler on one line: events may be dispatched
        # between two statements, as at a browser console.
        child.stdin.write(
            b"from w3cws import WebSocket\n"
            + f"ws = WebSocket({server.url!r}); ".encode()
            + b"ws.onmessage = lambda e: print('got', e.data, flush=True)\n"
        )
        child.stdin.flush()
        read_until(child.stdout.fileno(), b"got hello")
        child.stdin.write(b"ws.send('typed')\n")
        child.stdin.flush()
        read_until(child.stdout.fileno(), b"got typed")
        started = time.monotonic()
        child.stdin.close()
        assert child.wait(WAIT) == 0
        assert time.monotonic() - started < EXIT_WITHIN + 1
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        assert child.stderr is not None
        child.stderr.close()
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


@contextlib.contextmanager
def python_in_a_terminal(
    env: dict[str, str], *args: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``python ARGS`` on a new pseudo-terminal: its controlling side and the process."""
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
        env=env,
    )
    os.close(terminal)
    try:
        yield controller, child
    finally:
        child.kill()
        child.wait()
        os.close(controller)


def end_with_ctrl_d(controller: int, child: subprocess.Popen[bytes]) -> None:
    """Ctrl-D on an empty line ends the session: promptly, and without an error."""
    ended = time.monotonic()
    os.write(controller, b"\x04")
    child.wait(WAIT)
    assert time.monotonic() - ended < EXIT_WITHIN
    assert child.returncode == 0


def socket_at_the_prompt(
    controller: int,
    url: str,
    *,
    imports: str = "from w3cws import WebSocket",
    handler: str = "print('got', e.data)",
    enter: bytes = b"\n",
) -> bytes:
    """At the first prompt, import, then make a socket and its message handler.

    The socket and its handler go on one line, as at a browser console:
    between two statements typed apart, the greeting may be dispatched
    before the handler is set. Returns what came before the first prompt.
    """
    start = read_until(controller, b">>> ")
    os.write(controller, imports.encode() + enter)
    line = f"ws = WebSocket({url!r}); ws.onmessage = lambda e: {handler}"
    os.write(controller, line.encode() + enter)
    return start


def test_python_i_in_a_terminal(server: ServerThread) -> None:
    env = {**os.environ, "TERM": "dumb", "PYTHON_BASIC_REPL": "1"}
    with python_in_a_terminal(env, "-i", "-q") as (controller, child):
        socket_at_the_prompt(controller, server.url)
        # The prompt waits for input: meanwhile open and the greeting are
        # dispatched, on the main thread, between statements.
        read_until(controller, b"got hello")
        os.write(controller, b"ws.readyState\n")
        read_until(controller, b"1\r\n>>> ")
        os.write(controller, b"ws.send('typed')\n")
        read_until(controller, b"got typed")
        # Ctrl-C at the waiting prompt is reported; the session goes on.
        child.send_signal(signal.SIGINT)
        read_until(controller, b"KeyboardInterrupt")
        os.write(controller, b"ws.readyState\n")
        read_until(controller, b"1\r\n>>> ")
        end_with_ctrl_d(controller, child)
    assert closed_record(server).close_code == 1001


@pytest.mark.skipif(sys.version_info < (3, 13), reason="the new REPL came with Python 3.13")
def test_the_new_repl_takes_pasted_lines_and_prints_listener_output_whole(
    server: ServerThread,
) -> None:
    # Python 3.13's REPL reads everything waiting on the terminal into its own
    # buffer, then calls the input hook before each key it handles: a hook
    # that waited for stdin would stall a pasted line after its first key.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_BASIC_REPL"}
    with python_in_a_terminal({**env, "TERM": "xterm"}, "-i", "-q") as (controller, child):
        start = socket_at_the_prompt(controller, server.url, enter=b"\r")
        if b"\x1b[?2004h" not in start:  # the new REPL turns on bracketed paste
            pytest.skip("the new REPL cannot run on this terminal; Python used the basic one")
        # Dispatched while the prompt waits; the REPL keeps the terminal raw,
        # so only the hook's own output processing gives the carriage return.
        read_until(controller, b"got hello\r\n")
        os.write(controller, b"ws.send('typed in one go')\r")
        read_until(controller, b"got typed in one go\r\n")
        end_with_ctrl_d(controller, child)
    assert closed_record(server).close_code == 1001


def test_the_asyncio_repl_dispatches_on_its_loop_and_awaits(server: ServerThread) -> None:
    # python -m asyncio runs its loop on the main thread and reads input on
    # another: the loop keeps running at the prompt, so events come as they
    # arrive, always on the main thread, and a statement may await.
    env = {**os.environ, "TERM": "dumb", "PYTHON_BASIC_REPL": "1"}
    with python_in_a_terminal(env, "-m", "asyncio") as (controller, child):
        socket_at_the_prompt(
            controller,
            server.url,
            imports="import asyncio, threading, time; from w3cws import WebSocket",
            handler="print('got', e.data, threading.current_thread().name)",
        )
        read_until(controller, b"got hello MainThread")
        # The main thread sends, then is busy for a second while the input
        # thread waits at the prompt: the echo waits for the main thread.
        os.write(
            controller,
            b"asyncio.get_running_loop().call_later("
            b"0.1, lambda: (ws.send('while busy'), time.sleep(1)))\n",
        )
        read_until(controller, b"got while busy MainThread")
        # The wait starts before the statement yields to the loop: the echo
        # cannot be dispatched before it.
        os.write(
            controller,
            b"ws.send('typed'); e = await ws.wait_for('message', timeout=5); "
            b"print('awaited', e.data)\n",
        )
        # Ctrl-D once the prompt is back: typed earlier, the line editor's
        # switch of terminal modes could drop it.
        read_until(controller, b"awaited typed\r\n>>> ")
        end_with_ctrl_d(controller, child)
    # The loop ended with the session: its socket said going away.
    assert closed_record(server).close_code == 1001


IPYTHON = [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor"]
IPYTHON += ["--HistoryManager.enabled=False"]


def test_terminal_ipython_dispatches_while_its_prompt_waits(server: ServerThread) -> None:
    pytest.importorskip("IPython")
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        IPYTHON,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(terminal)
    try:
        read_until(controller, b"In [1]")
        os.write(controller, b"from w3cws import WebSocket\r")
        read_until(controller, b"In [2]")
        line = f"ws = WebSocket({server.url!r}); ws.onmessage = lambda e: print('got', e.data)\r"
        os.write(controller, line.encode())
        # prompt_toolkit's input hook serves the loop while it waits.
        read_until(controller, b"got hello")
        os.write(controller, b"ws.send('typed')\r")
        read_until(controller, b"got typed")
        # A cell that awaits runs IPython's asyncio loop, which serves too.
        line = "ws.send('awaited'); e = await ws.wait_for('message', timeout=5); print(e.data*2)\r"
        os.write(controller, line.encode())
        read_until(controller, b"awaitedawaited")
        os.write(controller, b"exit\r")
        child.wait(WAIT)
        assert child.returncode == 0
    finally:
        child.kill()
        child.wait()
        os.close(controller)
    assert closed_record(server).close_code == 1001


def test_ipython_through_a_pipe(server: ServerThread) -> None:
    pytest.importorskip("IPython")
    # IPython reading a pipe dispatches what is ready after each cell, never
    # inside one: empty cells are fed until the expected output comes.
    child = subprocess.Popen(
        IPYTHON, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None

    def cells_until(marker: bytes) -> bytes:
        assert child.stdin is not None and child.stdout is not None
        seen = b""
        deadline = time.monotonic() + WAIT
        while marker not in seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not seen; got {seen!r}")
            child.stdin.write(b"pass\n")
            child.stdin.flush()
            ready, _, _ = select.select([child.stdout], [], [], 0.05)
            if ready:
                seen += os.read(child.stdout.fileno(), 4096)
        return seen

    try:
        child.stdin.write(
            b"from w3cws import WebSocket\n"
            + f"ws = WebSocket({server.url!r}); ".encode()
            + b"ws.onmessage = lambda e: print('got', e.data, flush=True)\n"
        )
        before = cells_until(b"got hello")
        child.stdin.write(b"ws.send('typed')\n")
        after = cells_until(b"got typed")
        child.stdin.close()
        assert child.wait(WAIT) == 0
        assert b"InvalidStateError" not in before + after
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert closed_record(server).close_code == 1001
