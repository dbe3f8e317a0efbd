"""A real Jupyter kernel (ipykernel) runs notebooks cell by cell (nbclient).

Sockets made in an ordinary cell do their network work on the background
trio thread; the kernel's asyncio loop dispatches their events. Skipped
without the ``test`` extras ipykernel, nbclient and nbformat.
Each test starts one kernel (bounded start-up) and talks to a
``ServerThread`` on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from w3cws.testing import Behavior, Send, ServerThread

from .servers import closed_records

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
    return [record.close_code for record in closed_records(server, n)]


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


def test_autoawait_trio_after_sockets_of_ordinary_cells(server: ServerThread) -> None:
    cells = run_cells(
        f"URL = {server.url!r}",
        "from w3cws import WebSocket\n"
        "ws = WebSocket(URL)\n"
        "await ws.wait_for('open', timeout=5)\n"
        "ws.close()\n"
        "await ws.wait_for('close', timeout=5)",
        "import trio\nprint(trio.lowlevel.in_trio_run())",
        # No trio run is held on the kernel's thread, so this trio.run is allowed.
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


def test_a_socket_of_an_ordinary_cell_lives_through_a_trio_cell(server: ServerThread) -> None:
    cells = run_cells(
        f"URL = {server.url!r}",
        "from w3cws import WebSocket, setTimeout\n"
        "got = []\n"
        "ws = WebSocket(URL)\n"
        "ws.onmessage = lambda e: got.append(e.data)\n"
        "await ws.wait_for('message', timeout=5)\n"
        "print(got)",
        "%autoawait trio",
        # A trio run in the kernel's thread, while the socket is open.
        "import trio\n"
        "ws.send('during trio')\n"
        "await trio.sleep(0.2)\n"
        "print('trio cell done', trio.lowlevel.in_trio_run(), ws.readyState)",
        "%autoawait asyncio",
        # What arrived during the trio cell is delivered after it (perhaps
        # between the cells); the socket goes on.
        "if len(got) < 2:\n    await ws.wait_for('message', timeout=5)\nprint(got)",
        "ws.send('after trio')\n"
        "await ws.wait_for('message', timeout=5)\n"
        "print(got[-1])\n"
        "setTimeout(lambda: ws.close(1000), 10)\n"
        "event = await ws.wait_for('close', timeout=5)\n"
        "print(event.code, ws.readyState)",
    )
    shown = [text(c) for c in cells]
    assert "!" not in "".join(shown), shown
    assert shown[1] == "['hello']\n"
    # No event was dispatched inside the trio cell: the kernel's loop waited.
    assert shown[3] == "trio cell done True 1\n"
    assert shown[5] == "['hello', 'during trio']\n"
    assert shown[6] == "after trio\n1000 3\n"
    assert close_codes(server, 1) == [1000]


def test_the_example_notebook_runs() -> None:
    nb = execute(nbformat.read(EXAMPLE, as_version=4))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c for c in code if "!" in text(c)]
    by_source = {c.source.splitlines()[0]: text(c) for c in code}
    assert by_source['ws.send("hello")'] == "message: hello\n"
    assert by_source['ws.send("and you?")'] == "message: and you?\n'and you?'"
    assert "ValueError: a bug in a handler" in by_source["def broken(event):"]
    assert by_source['ws.close(1000, "bye")'] == "close: 1000 bye\n1000 bye True\n"
