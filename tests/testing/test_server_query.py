"""The one grammar: the query string of a request, and script files, in the same words.

The parser is checked table-driven (what each query turns into, and that a
script in the same words turns into the same behaviour), then a few
connections over loopback show it is wired in: overrides apply, a bad query
is refused with 400, and ``query_overrides=False`` turns the language off.
"""

from __future__ import annotations

import re

import pytest
import trio
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from w3cws.testing import (
    Behavior,
    Close,
    Delay,
    Drop,
    Ping,
    Send,
    Stall,
    apply_query,
    parse_script,
    serve,
)

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
            "binary=00ff&ping=abc&delay=0.5&close=",
            Behavior(on_open=(Send(b"\x00\xff"), Ping(b"abc"), Delay(0.5), Close(None))),
        ),
        ("reason=why&close=1001", Behavior(on_open=(Close(1001, "why"),))),
        ("send=a+b%26c", Behavior(on_open=(Send("a b&c"),))),
        ("send=&drop=1", Behavior(on_open=(Send(""), Drop()))),
        ("close=4000+bye+bye", Behavior(on_open=(Close(4000, "bye bye"),))),
        ("drop=", Behavior(on_open=(Drop(),))),
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
    assert apply_query(BASE, query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo=1", "unknown word 'foo'; the words are send, binary, ping, delay, close"),
        ("send", "malformed query string"),
        ("close=abc", "bad close 'abc'; usage: close [CODE [REASON]]"),
        ("close=70000", "bad close '70000'"),
        ("close=%2B5", "bad close '+5'"),
        ("close=%EF%BC%91", "bad close '\uff11'"),
        ("binary=zz", "bad binary 'zz'; usage: binary HEX"),
        ("close=1000&close=1001", "'close' may appear only once"),
        ("reason=x", "'reason' needs 'close'"),
        ("close=&reason=x", "needs a code"),
        ("reason=a&reason=b&close=1000", "'reason' may appear only once"),
        ("echo=2", "bad echo '2'; usage: echo 0|1"),
        ("reject=99", "bad reject '99'"),
        ("reject=403&reject=404", "'reject' may appear only once"),
        ("delay=-1", "bad delay '-1'"),
        ("delay=nan", "bad delay 'nan'"),
        ("handshake_delay=inf", "bad handshake_delay 'inf'"),
        ("drop=0", "bad drop '0'"),
        ("on_close=maybe", "usage: on_close echo|stall|drop"),
    ],
)
def test_bad_queries_are_refused(query: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_query(BASE, query)


@pytest.mark.parametrize(
    ("query", "script"),
    [
        (
            "send=hello+there&binary=00ff&ping=p&delay=0.5&close=4000&reason=bye",
            "send hello there\nbinary 00ff\nping p\ndelay 0.5\nclose 4000\nreason bye",
        ),
        ("close=4000+bye+bye&echo=0", "# a comment\n\nclose 4000 bye bye\necho 0\n"),
        ("reject=403&subprotocol=", "reject 403\nsubprotocol"),
        ("drop=1&on_close=drop", "  drop  \non_close drop"),
    ],
)
def test_script_and_query_are_one_grammar(query: str, script: str) -> None:
    assert parse_script(script, BASE) == apply_query(BASE, query)
    assert parse_script(script) == apply_query(Behavior(), query)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("send a\n\nbogus 1", "line 3: unknown word 'bogus'"),
        ("# x\nbinary zz", "line 2: bad binary 'zz'; usage: binary HEX"),
        ("close 4000\nclose 4001", "line 2: 'close' may appear only once"),
        ("echo 1\n# again\necho 0", "line 3: 'echo' may appear only once"),
        ("send a\nreason why", "line 2: 'reason' needs 'close'"),
    ],
)
def test_bad_scripts_name_the_line(script: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_script(script)


async def test_query_script_over_the_wire() -> None:
    with trio.fail_after(TIMEOUT):
        async with serve() as server:

            def client() -> tuple[list[str | bytes], int | None, str | None]:
                url = f"{server.url}/chat?send=hello&binary=776f726c64&ping=p&close=4000&reason=bye"
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
