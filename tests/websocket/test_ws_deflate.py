"""permessage-deflate end to end, against two independent servers.

The ``websockets`` library's server negotiates permessage-deflate by default
(RFC 7692); here it also runs with each parameter a server may choose
(§7.1), and our own ``w3cws.testing`` server (wsproto's ``PerMessageDeflate``)
echoes as well. Each runs with our codec (the default) and with the wsproto
codec (``W3CWS_CODEC=wsproto``): the script must see the same.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import ServerConnection, serve

from w3cws import WebSocket
from w3cws._engine.codec import CODEC_ENV
from w3cws.testing import serve as serve_ours

from .conftest import trace

JSON = json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(300)])
MESSAGES: list[str | bytes] = [
    "hello",
    JSON[:16384],
    "héllo wörld ✓",
    bytes(range(256)) * 4,
    "",
    b"",
    "w3cws " * 40000,  # 240 KB: written in pieces
    JSON[:16384],  # again: with context takeover, mostly back-references
]

PMD = "permessage-deflate"
# A server's permessage-deflate settings, and the response it makes to our offer.
FACTORIES = {
    "default": (None, f"{PMD}; server_max_window_bits=12; client_max_window_bits=12"),
    "15 bits": (ServerPerMessageDeflateFactory(), PMD),
    "no context takeover": (
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True
        ),
        f"{PMD}; server_no_context_takeover; client_no_context_takeover",
    ),
    "9 bits": (
        ServerPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=9),
        f"{PMD}; server_max_window_bits=9; client_max_window_bits=9",
    ),
    "mixed": (
        ServerPerMessageDeflateFactory(
            server_max_window_bits=10, client_max_window_bits=14, client_no_context_takeover=True
        ),
        f"{PMD}; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=14",
    ),
}


@pytest.fixture(params=["", "wsproto"], ids=["our-codec", "wsproto-codec"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(CODEC_ENV, request.param)
    return str(request.param)


def _echo(conn: ServerConnection) -> None:
    try:
        for message in conn:
            conn.send(message)
    except ConnectionClosed:
        pass


@contextmanager
def websockets_server(factory: ServerPerMessageDeflateFactory | None) -> Iterator[str]:
    """An echoing ``websockets`` server: its default compression, or ``factory``'s."""
    options: dict[str, Any] = {"compression": "deflate"}
    if factory is not None:
        options = {"compression": None, "extensions": [factory]}
    server = serve(_echo, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
    finally:
        server.shutdown()
        thread.join(5)


async def echoed(url: str) -> tuple[str, list[Any], tuple[Any, ...]]:
    """Send every message, close once all came back; the extensions, messages and close."""
    ws = WebSocket(url)
    ws.binaryType = "arraybuffer"
    t = trace(ws)

    def on_open(_: object) -> None:
        for message in MESSAGES:
            ws.send(message)

    ws.onopen = on_open
    ws.onmessage = lambda e: ws.close() if len(t.messages) == len(MESSAGES) else None
    await t.wait_closed(timeout=20)
    return ws.extensions, t.messages, t.close


@pytest.mark.parametrize("name", sorted(FACTORIES))
async def test_websockets_server_echoes_compressed_messages(codec: str, name: str) -> None:
    factory, response = FACTORIES[name]
    with websockets_server(factory) as url:
        extensions, messages, close = await echoed(url)
    assert extensions == response
    assert messages == MESSAGES
    assert close == ("close", 3, 1005, "", True)


async def test_our_server_echoes_compressed_messages(codec: str) -> None:
    async with serve_ours() as server:
        extensions, messages, close = await echoed(server.url)
        with trio.fail_after(5):
            await server.connections[0].wait_closed()
    assert extensions.startswith("permessage-deflate")
    assert server.connections[0].deflate_negotiated
    assert messages == MESSAGES
    assert server.connections[0].messages == MESSAGES
    assert close == ("close", 3, 1005, "", True)
