"""A real Jupyter kernel (ipykernel) runs notebooks cell by cell (nbclient).

Sockets made in a cell live on a trio guest run on the kernel's asyncio
loop. Skipped without the ``test`` extras ipykernel, nbclient and nbformat.
Each test starts one kernel (bounded start-up) and talks to a
``ServerThread`` on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from w3cws.testing import Behavior, Send, ServerThread

pytest.importorskip("ipykernel")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "notebook.ipynb"
KERNEL_START = 20
CELL_TIMEOUT = 15
# Cells marked with this comment are interrupted (Ctrl-C) after a second.
INTERRUPT = "# interrupt me"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(Behavior(on_open=[Send("hello")])) as running:
        yield running


def execute(nb: Any) -> Any:
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        startup_timeout=KERNEL_START,
        timeout_func=lambda cell: 1 if INTERRUPT in cell.source else CELL_TIMEOUT,
        interrupt_on_timeout=True,
        allow_errors=True,
    )
    client.execute()
    return nb


def run_cells(*sources: str) -> list[Any]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return list(execute(nb).cells)


def text(cell: Any) -> str:
    """Everything a cell showed: streams, results, and error names."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "execute_result":
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"!{output.ename}")
    return "".join(parts)


def close_codes(server: ServerThread, n: int) -> list[int | None]:
    server.wait_for_connections(n)
    deadline = time.monotonic() + 5
    while any(r.tcp_closed_by is None for r in server.connections):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return [r.close_code for r in server.connections]


def test_sockets_across_cells(server: ServerThread) -> None:
    cells = run_cells(
        f"URL = {server.url!r}",
        "import asyncio, threading\n"
        "from w3cws import WebSocket\n"
        "def expect(ws, data):\n"
        "    # A future for the message; listening starts before the send.\n"
        "    got = asyncio.get_running_loop().create_future()\n"
        "    def on(e):\n"
        "        if e.data == data and not got.done():\n"
        "            got.set_result(e)\n"
        "    ws.addEventListener('message', on)\n"
        "    return got\n"
        "first = WebSocket(URL)\n"
        "first.onmessage = lambda e: print('first got', e.data, threading.current_thread().name)",
        # Events come in while a later cell awaits.
        "await first.wait_for('open', timeout=5)\nprint(first.readyState)",
        "second = WebSocket(URL)\n"
        "second.onmessage = lambda e: print('second got', e.data)\n"
        "await second.wait_for('open', timeout=5)\n"
        "got = asyncio.gather(expect(first, 'one'), expect(second, 'two'))\n"
        "first.send('one'); second.send('two')\n"
        "_ = await asyncio.wait_for(got, 5)",
        "first.close(4000, 'done')\n"
        "event = await first.wait_for('close', timeout=5)\n"
        "print(event.code, event.reason, first.readyState, second.readyState)",
        "got = expect(second, 'still here')\n"
        "second.send('still here')\n_ = await asyncio.wait_for(got, 5)",
        "second.close()\nawait second.wait_for('close', timeout=5)\nprint(second.readyState)",
    )
    shown = "".join(text(c) for c in cells)
    # Handlers run on the kernel's main thread (the loop's); "hello" may come
    # between cells, where no cell collects the output, or during one.
    assert text(cells[2]).endswith("1\n")
    assert "first got one MainThread" in text(cells[3]) and "second got two" in text(cells[3])
    assert text(cells[4]) == "4000 done 3 1\n"
    assert text(cells[5]) == "second got still here\n"
    assert text(cells[6]) == "3\n"
    assert "!" not in shown
    assert close_codes(server, 2) == [4000, None]


def test_a_raising_handler_and_ctrl_c_leave_the_socket_alone(server: ServerThread) -> None:
    cells = run_cells(
        f"URL = {server.url!r}",
        "import asyncio, time\n"
        "from w3cws import WebSocket\n"
        "def expect(ws, data):\n"
        "    # A future for the message; listening starts before the send.\n"
        "    got = asyncio.get_running_loop().create_future()\n"
        "    def on(e):\n"
        "        if e.data == data and not got.done():\n"
        "            got.set_result(e)\n"
        "    ws.addEventListener('message', on)\n"
        "    return got\n"
        "ws = WebSocket(URL)\n"
        "await ws.wait_for('open', timeout=5)\n"
        "ws.onmessage = lambda e: print('got', e.data)",
        "def broken(event):\n"
        "    raise ValueError('a bug in a handler')\n"
        "ws.addEventListener('message', broken)\n"
        "got = expect(ws, 'x')\n"
        "ws.send('x')\n"
        "_ = await asyncio.wait_for(got, 5)\n"
        "ws.removeEventListener('message', broken)",
        "got = expect(ws, 'after the bug'); ws.send('after the bug')\n"
        "_ = await asyncio.wait_for(got, 5); print(ws.readyState)",
        # Ctrl-C during an async cell cancels it; during a sync one raises.
        f"{INTERRUPT}\nwhile True:\n    await asyncio.sleep(0.01)",
        f"{INTERRUPT}\ntime.sleep(30)",
        "got = expect(ws, 'after ctrl-c'); ws.send('after ctrl-c')\n"
        "_ = await asyncio.wait_for(got, 5); print(ws.readyState)",
    )
    shown = text(cells[2])
    assert "Traceback" in shown and "ValueError: a bug in a handler" in shown
    assert "got x" in shown
    assert text(cells[3]) == "got after the bug\n1\n"
    assert text(cells[4]) in ("!CancelledError", "!KeyboardInterrupt")
    assert text(cells[5]) == "!KeyboardInterrupt"
    assert text(cells[6]) == "got after ctrl-c\n1\n"


def test_autoawait_trio_after_the_guest_run(server: ServerThread) -> None:
    cells = run_cells(
        f"URL = {server.url!r}",
        "from w3cws import WebSocket\n"
        "ws = WebSocket(URL)\n"
        "await ws.wait_for('open', timeout=5)\n"
        "ws.close()\n"
        "await ws.wait_for('close', timeout=5)",
        # The guest run ends soon after its last socket: a bounded wait for that.
        "import asyncio, trio\n"
        "for _ in range(500):\n"
        "    if not trio.lowlevel.in_trio_run():\n"
        "        break\n"
        "    await asyncio.sleep(0.01)\n"
        "print(trio.lowlevel.in_trio_run())",
        # The guest run ended with its last socket, so this trio.run is allowed.
        "%autoawait trio",
        "inner = WebSocket(URL)\n"
        "event = await inner.wait_for('message', timeout=5)\n"
        "print(event.data, trio.lowlevel.in_trio_run())",
        # That cell's trio run ended: its socket went away, no events.
        "%autoawait asyncio",
        "print(inner.readyState)",
    )
    assert [text(c) for c in cells[2:]] == ["False\n", "", "hello True\n", "", "3\n"]
    assert close_codes(server, 2) == [None, 1001]


def test_the_example_notebook_runs() -> None:
    nb = execute(nbformat.read(EXAMPLE, as_version=4))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c for c in code if "!" in text(c)]
    by_source = {c.source.splitlines()[0]: text(c) for c in code}
    assert by_source['ws.send("hello")'] == "message: hello\n"
    assert by_source['ws.send("and you?")'] == "message: and you?\n'and you?'"
    assert "ValueError: a bug in a handler" in by_source["def broken(event):"]
    assert by_source['ws.close(1000, "bye")'] == "close: 1000 bye\n1000 bye True\n"
