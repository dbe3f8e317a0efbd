"""1000 sockets made in a loop, handlers assigned on the following lines.

Usage: python many_sockets.py ACCEPTING_URL REFUSED_URL {main,worker}

Half go to a server that accepts and greets, half to a refused port; then
``w3cws.run()``. Prints how many sockets saw exactly the events the
standard promises: open, message, close (accepted) or error, close (refused).
"""

import sys
import threading

import w3cws
from w3cws import WebSocket

N = 1000


def main(accepting: str, refused: str) -> None:
    seen: list[list[str]] = []
    for i in range(N):
        ws = WebSocket(accepting if i % 2 == 0 else refused)
        events: list[str] = []
        seen.append(events)
        ws.onopen = lambda e, events=events: events.append("open")
        ws.onmessage = lambda e, events=events, ws=ws: (events.append("message"), ws.close())
        ws.onerror = lambda e, events=events: events.append("error")
        ws.onclose = lambda e, events=events: events.append("close")
    w3cws.run(timeout=120)
    good = sum(
        events == (["open", "message", "close"] if i % 2 == 0 else ["error", "close"])
        for i, events in enumerate(seen)
    )
    print(f"{good}/{N} sockets saw every event", flush=True)


if __name__ == "__main__":
    accepting, refused, where = sys.argv[1:4]
    if where == "worker":
        thread = threading.Thread(target=main, args=(accepting, refused), name="worker")
        thread.start()
        thread.join()
    else:
        main(accepting, refused)
