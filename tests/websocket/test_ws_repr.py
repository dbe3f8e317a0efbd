"""repr(ws): URL, state, protocol and bufferedAmount, as they change."""

from __future__ import annotations

import trio

from w3cws import WebSocket
from w3cws.testing import Behavior, serve

WAIT = 5


async def test_repr_follows_the_socket_through_its_states() -> None:
    async with serve(Behavior(subprotocol="chat")) as server:
        ws = WebSocket(server.url + "/room", ["chat"])
        url = server.url + "/room"
        assert repr(ws) == (
            f"<WebSocket url={url!r} readyState=CONNECTING protocol='' bufferedAmount=0>"
        )
        with trio.fail_after(WAIT):
            await ws.wait_for("open")
        assert repr(ws) == (
            f"<WebSocket url={url!r} readyState=OPEN protocol='chat' bufferedAmount=0>"
        )
        ws.close()
        ws.send("after close")  # counted, never sent (WS §3.1 send() step 3)
        assert repr(ws) == (
            f"<WebSocket url={url!r} readyState=CLOSING protocol='chat' bufferedAmount=11>"
        )
        with trio.fail_after(WAIT):
            await ws.wait_for("close")
        assert repr(ws).startswith(f"<WebSocket url={url!r} readyState=CLOSED ")
