"""The URL mini-language: the query string of the request overrides the behaviour.

The parser is checked table-driven (what each query turns into), then a few
connections over loopback show it is wired in: overrides apply, a bad query
is refused with 400, and ``query_overrides=False`` turns the language off.
"""

from __future__ import annotations

import re

import pytest
import trio
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from w3cws.testing import Behavior, Close, Delay, Drop, Ping, Send, Stall, serve
from w3cws.testing._server import _apply_query

TIMEOUT = 5
BASE = Behavior(on_open=[Send("base")])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "send=hello&send=world&close=4000&reason=bye",
            Behavior(on_open=(Send("hello"), Send("world"), Close(4000, "bye"))),
        ),
        (
            "binary=hi&ping=abc&delay=0.5&close=",
            Behavior(on_open=(Send(b"hi"), Ping(b"abc"), Delay(0.5), Close(None))),
        ),
        ("reason=why&close=1001", Behavior(on_open=(Close(1001, "why"),))),
        ("send=a+b%26c", Behavior(on_open=(Send("a b&c"),))),
        ("send=&drop=1", Behavior(on_open=(Send(""), Drop()))),
        ("stall=1", Behavior(on_open=(Stall(),))),
        ("reject=403", Behavior(on_open=BASE.on_open, reject=403)),
        ("subprotocol=chat", Behavior(on_open=BASE.on_open, subprotocol="chat")),
        ("subprotocol=", Behavior(on_open=BASE.on_open, subprotocol=None)),
        ("deflate=0&echo=0", Behavior(on_open=BASE.on_open, deflate=False, echo=False)),
        ("handshake_delay=0.25", Behavior(on_open=BASE.on_open, handshake_delay=0.25)),
        ("on_close=stall", Behavior(on_open=BASE.on_open, on_close="stall")),
        (
            "keep_tcp_open_after_close=1",
            Behavior(on_open=BASE.on_open, keep_tcp_open_after_close=True),
        ),
    ],
)
def test_query_overrides(query: str, expected: Behavior) -> None:
    assert _apply_query(BASE, query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo=1", "unknown query key 'foo'"),
        ("send", "malformed query string"),
        ("close=abc", "close='abc'"),
        ("close=70000", "close='70000'"),
        ("close=%2B5", "close='+5'"),
        ("close=%EF%BC%91", "expected an integer"),
        ("close=1000&close=1001", "'close' may appear only once"),
        ("reason=x", "'reason' needs 'close'"),
        ("close=&reason=x", "needs a code"),
        ("echo=2", "expected 0 or 1"),
        ("reject=99", "reject='99'"),
        ("reject=403&reject=404", "'reject' may appear only once"),
        ("delay=-1", "delay='-1'"),
        ("delay=nan", "delay='nan'"),
        ("handshake_delay=inf", "handshake_delay='inf'"),
        ("drop=0", "expected 1"),
        ("on_close=maybe", "expected echo, stall or drop"),
    ],
)
def test_bad_queries_are_refused(query: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _apply_query(BASE, query)


async def test_query_script_over_the_wire() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> tuple[list[str | bytes], int | None, str | None]:
                url = f"{server.url}/chat?send=hello&binary=world&ping=p&close=4000&reason=bye"
                received = []
                with connect(url, open_timeout=2, close_timeout=1) as ws:
                    try:
                        while True:
                            received.append(ws.recv(timeout=2))
                    except ConnectionClosed:
                        pass
                return received, ws.close_code, ws.close_reason

            result = await trio.to_thread.run_sync(client, abandon_on_cancel=True)
            assert result == (["hello", b"world"], 4000, "bye")
            record = server.connections[0]
            await record.wait_closed()
            assert record.pongs == [b"p"]


@pytest.mark.parametrize(("query", "status"), [("reject=403", 403), ("nope=1", 400)])
async def test_query_rejects(query: str, status: int) -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> int:
                with pytest.raises(InvalidStatus) as caught:
                    connect(f"{server.url}/?{query}", open_timeout=2)
                return caught.value.response.status_code

            assert await trio.to_thread.run_sync(client, abandon_on_cancel=True) == status
            record = server.connections[0]
            assert ("rejected", status) in record.events
            assert (record.error is not None) is (status == 400)


async def test_query_overrides_can_be_turned_off() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve(Behavior(query_overrides=False)) as server:

            def client() -> str | bytes:
                with connect(f"{server.url}/?anything=goes", open_timeout=2) as ws:
                    ws.send("still echoed")
                    return ws.recv(timeout=2)

            assert await trio.to_thread.run_sync(client, abandon_on_cancel=True) == "still echoed"
            assert server.connections[0].path == "/?anything=goes"
