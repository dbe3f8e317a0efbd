"""Waiting, from a test's thread, for a ``ServerThread``'s connections to close."""

from __future__ import annotations

import trio

from w3cws.testing import ConnectionRecord, ServerThread

WAIT = 30.0


async def _all_closed(records: list[ConnectionRecord], timeout: float) -> None:
    with trio.move_on_after(timeout):
        for record in records:
            await record.wait_closed()


def closed_records(
    server: ServerThread, n: int = 1, timeout: float = WAIT
) -> list[ConnectionRecord]:
    """The first ``n`` connections, once their TCP connections are closed (or ``timeout`` passed).

    The caller asserts on what they recorded; a connection still open then
    shows as ``tcp_closed_by is None``.
    """
    server.wait_for_connections(n)
    records = server.connections[:n]
    server.call(_all_closed, records, timeout)
    return records
