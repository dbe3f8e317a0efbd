"""Load: 1000 concurrent WebSockets exchanging messages with one echo server.

Time and peak RSS are recorded (``record_property``, shown in the terminal
summary by conftest.py), never asserted: they depend on the machine.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from w3cws import WebSocket
from w3cws.testing import Behavior, serve

from ..websocket.conftest import Trace, trace
from .hostile import check_story, open_fds, proc_status, settle

CONNECTIONS = 1000
MESSAGES = 10


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


async def test_a_thousand_concurrent_connections(record_property: Any) -> None:
    await settle()
    fds = open_fds()
    peak_reset = _reset_peak_rss()
    rss_before = proc_status("VmRSS")
    start = time.perf_counter()
    async with serve(Behavior(echo=True, deflate=False)) as server:
        runs = []
        for i in range(CONNECTIONS):
            ws = WebSocket(f"{server.url}/{i}", deflate=i % 4 == 0)
            ws.binaryType = "arraybuffer"
            t = trace(ws)  # first listener: it records before the handlers run
            sent = [f"{i}:{j}" if j % 2 else f"{i}:{j}".encode() for j in range(MESSAGES)]

            def on_open(_: object, ws: WebSocket = ws, sent: list[str | bytes] = sent) -> None:
                for data in sent:
                    ws.send(data)

            def on_message(_: object, ws: WebSocket = ws, t: Trace = t) -> None:
                if len(t.messages) == MESSAGES:
                    ws.close(1000, "done")

            ws.onopen = on_open
            ws.onmessage = on_message
            runs.append((t, sent))
        with trio.fail_after(50):
            for t, _ in runs:
                await t.closed.wait()
        elapsed = time.perf_counter() - start
    peak = proc_status("VmHWM")
    for t, sent in runs:
        check_story(t)
        assert t.messages == sent  # every echo, once, in order, with its type
        assert t.close[2:] == (1000, "done", True)
    assert len(server.connections) == CONNECTIONS
    await settle()
    assert open_fds() <= fds

    rss_note = "since reset" if peak_reset else "process lifetime"
    summary = (
        f"load: {CONNECTIONS} connections x {MESSAGES} echoed messages in {elapsed:.2f} s; "
        f"RSS {rss_before / 2**20:.0f} MiB before, peak {peak / 2**20:.0f} MiB ({rss_note})"
    )
    record_property("load_seconds", round(elapsed, 3))
    record_property("load_peak_rss_bytes", peak)
    record_property("load_summary", summary)  # shown by conftest.py's terminal summary
    print(summary)
