"""``w3cws connect`` as a subprocess against the ``w3cws.testing`` server of the test.

The server runs in the test's trio run; its records show what the CLI sent.
Tests that need the server to speak first keep the CLI's stdin open: at end
of input the CLI closes, and, as in a browser, messages arriving after
``close()`` are not delivered.
"""

from __future__ import annotations

import signal

import pytest
import trio

from w3cws.testing import Behavior, Send, serve

from .conftest import TIMEOUT, Cli, closed_port

OPEN_LINE = (
    "[open] readyState=1 protocol='' extensions='permessage-deflate; client_max_window_bits=15'"
)


async def test_piped_lines_are_sent_then_end_of_input_closes_with_1000(any_cli: Cli) -> None:
    # The slow handshake lets the CLI read all of stdin while CONNECTING: the
    # lines wait for open, then go out in order, then the close.
    async with serve(Behavior(handshake_delay=0.3)) as server:
        result = await trio.to_thread.run_sync(
            lambda: any_cli.run("connect", server.url + "/pipe", stdin="hello\nwörld\r\nlast")
        )
        [record] = server.connections
        with trio.fail_after(TIMEOUT):
            await record.wait_closed()
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        OPEN_LINE,
        "> ws.send('hello')",
        "> ws.send('wörld')",
        "> ws.send('last')",
        "> ws.close(1000)",
        "[close] readyState=3 code=1000 reason='' wasClean=True",
    ]
    assert record.messages == ["hello", "wörld", "last"]
    assert (record.close_code, record.close_reason) == (1000, "")


async def test_close_option_sets_code_and_reason(cli: Cli) -> None:
    async with serve() as server:
        result = await trio.to_thread.run_sync(
            lambda: cli.run("connect", server.url, "--close", "4000", "bye now")
        )
        [record] = server.connections
        with trio.fail_after(TIMEOUT):
            await record.wait_closed()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "> ws.close(4000, 'bye now')",
        "[close] readyState=3 code=4000 reason='bye now' wasClean=True",
    ]
    assert (record.close_code, record.close_reason) == (4000, "bye now")


async def test_interactive_session_prints_each_event_as_it_comes(any_cli: Cli) -> None:
    async with serve() as server, any_cli.start("connect", server.url) as client:
        assert await client.line() == OPEN_LINE
        await client.write("hello\n")
        assert await client.lines(2) == [
            "> ws.send('hello')",
            "[message] readyState=1 'hello' (text)",
        ]
        await client.end_input()
        status, rest, errors = await client.finish()
    assert (status, errors) == (0, "")
    assert rest == ["> ws.close(1000)", "[close] readyState=3 code=1000 reason='' wasClean=True"]


async def test_binary_type_arraybuffer_prints_bytes_and_server_close_ends(cli: Cli) -> None:
    url = "/?binary=6869&send=text&close=4001&reason=server%20bye"
    options = ("--binary-type", "arraybuffer")
    async with serve() as server, cli.start("connect", server.url + url, *options) as client:
        status, lines, errors = await client.finish()
    assert (status, errors) == (0, "")
    assert lines == [
        OPEN_LINE,
        "[message] readyState=1 b'hi' (arraybuffer, 2 bytes)",
        "[message] readyState=1 'text' (text)",
        "[close] readyState=3 code=4001 reason='server bye' wasClean=True",
    ]


async def test_binary_type_blob_is_the_default(cli: Cli) -> None:
    behavior = Behavior(on_open=(Send(bytes(300)),))
    async with serve(behavior) as server, cli.start("connect", server.url) as client:
        assert await client.lines(2) == [
            OPEN_LINE,
            "[message] readyState=1 <Blob size=300 type=''>",
        ]
        await client.end_input()
        status, _, _ = await client.finish()
    assert status == 0


async def test_long_text_is_cut_in_the_trace(cli: Cli) -> None:
    behavior = Behavior(on_open=(Send("x" * 1000),))
    async with serve(behavior) as server, cli.start("connect", server.url) as client:
        assert await client.lines(2) == [
            OPEN_LINE,
            f"[message] readyState=1 '{'x' * 200}'... (text, 1000 characters)",
        ]
        await client.end_input()
        status, _, _ = await client.finish()
    assert status == 0


async def test_handshake_options_reach_the_server(cli: Cli) -> None:
    args = [
        *("--protocol", "chat.v2", "--protocol", "chat.v1"),
        *("--header", "X-Trace:  abc ", "--header", "Authorization: Bearer t"),
        *("--origin", "https://example.com", "--no-deflate"),
    ]
    async with serve() as server:
        result = await trio.to_thread.run_sync(lambda: cli.run("connect", server.url, *args))
        [record] = server.connections
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "[open] readyState=1 protocol='chat.v2' extensions=''"
    assert record.subprotocols == ["chat.v2", "chat.v1"]
    headers = dict(record.request_headers)
    assert headers["x-trace"] == "abc"
    assert headers["authorization"] == "Bearer t"
    assert headers["origin"] == "https://example.com"
    assert record.extensions_offered == ""


async def test_unclean_close_exits_1(cli: Cli) -> None:
    async with serve() as server, cli.start("connect", server.url + "/?drop=1") as client:
        status, lines, errors = await client.finish()
    assert (status, errors) == (1, "")
    # TCP closed without a Close frame: not a failed connection, so no error event.
    assert lines == [OPEN_LINE, "[close] readyState=3 code=1006 reason='' wasClean=False"]


async def test_ctrl_c_closes_cleanly_and_exits_130(any_cli: Cli) -> None:
    async with serve() as server, any_cli.start("connect", server.url, "--close", "4002") as client:
        assert await client.line() == OPEN_LINE
        client.signal(signal.SIGINT)
        status, rest, errors = await client.finish()
        [record] = server.connections
    assert (status, errors) == (130, "")
    assert rest == ["> ws.close(4002)", "[close] readyState=3 code=4002 reason='' wasClean=True"]
    assert record.close_code == 4002


async def test_ctrl_c_while_connecting_gives_up_at_once(cli: Cli) -> None:
    slow = Behavior(handshake_delay=TIMEOUT)
    async with serve(slow) as server, cli.start("connect", server.url) as client:
        with trio.fail_after(TIMEOUT):
            await server.wait_for_connections(1)
        client.signal(signal.SIGINT)
        status, lines, errors = await client.finish()
    assert (status, lines, errors) == (130, [], "")


def test_refused_connection_is_one_error_line(any_cli: Cli) -> None:
    url = f"ws://127.0.0.1:{closed_port()}/"
    result = any_cli.run("connect", url)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"w3cws: error: could not connect to {url}\n"


async def test_rejected_handshake_is_one_error_line(cli: Cli) -> None:
    async with serve(Behavior(reject=403)) as server:
        result = await trio.to_thread.run_sync(lambda: cli.run("connect", server.url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"w3cws: error: could not connect to {server.url}/\n"


def test_bad_url_is_a_usage_error(any_cli: Cli) -> None:
    result = any_cli.run("connect", "ftp://example.com/")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "w3cws: error: SyntaxError: The URL's scheme must be 'ws', 'wss', 'http' or 'https'; "
        "'ftp' is not allowed.\n"
    )


def test_bad_subprotocol_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--protocol", "a b")
    assert result.returncode == 2
    assert result.stderr.startswith("w3cws: error: SyntaxError: The subprotocol 'a b' is invalid")
    assert len(result.stderr.splitlines()) == 1


def test_handshake_header_is_refused(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--header", "Upgrade: h2c")
    assert result.returncode == 2
    assert result.stderr == (
        "w3cws: error: the 'Upgrade' header belongs to the WebSocket handshake; leave it out\n"
    )


def test_malformed_header_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--header", "no colon")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "w3cws connect: error: argument --header: expected 'Name: value', got 'no colon'"
    )


async def test_bad_close_code_is_refused_before_connecting(any_cli: Cli) -> None:
    async with serve() as server:
        result = await trio.to_thread.run_sync(
            lambda: any_cli.run("connect", server.url, "--close", "1001")
        )
        assert server.connections == []
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "w3cws: error: --close: InvalidAccessError: The close code must be 1000 "
        "or in the range 3000 to 4999; 1001 is neither.\n"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["abc"], "--close: the code must be an integer, not 'abc'"),
        (
            ["4000", "r" * 124],
            "--close: SyntaxError: The close reason must be at most 123 bytes of UTF-8; "
            "this one is 124 bytes.",
        ),
        (["4000", "a", "b"], "--close takes a code and at most one reason"),
    ],
)
def test_bad_close_arguments(cli: Cli, values: list[str], message: str) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--close", *values)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"w3cws: error: {message}\n"
