"""``w3cws connect`` as a subprocess against the ``w3cws.testing`` server of the test.

The server runs in the test's trio run; its records show what the CLI sent.
Tests that need the server to speak first keep the CLI's stdin open: at end
of input the CLI closes, and, as in a browser, messages arriving after
``close()`` are not delivered.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import signal

import pytest
import trio

from w3cws.testing import Action, Behavior, Close, ConnectionRecord, Send, serve

from .conftest import TIMEOUT, Cli, closed_port

NOTHING_ANSWERS = (
    "is a WebSocket server listening there? (`w3cws serve` starts one on ws://127.0.0.1:8765)"
)

OPEN_LINE = (
    "[open] readyState=1 protocol='' extensions='permessage-deflate; client_max_window_bits=15'"
)


async def test_piped_lines_are_sent_then_end_of_input_closes_with_1000(any_cli: Cli) -> None:
    # The slow handshake usually lets the CLI read all of stdin while
    # CONNECTING: the lines wait for open, then go out in order, then the
    # close. The server does not echo, so the trace is the same whenever the
    # end of input is read.
    async with serve(Behavior(handshake_delay=0.3, echo=False)) as server:
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
            lambda: cli.run("connect", server.url, "--close", "4000", "--reason", "bye now")
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
    assert result.stderr == (
        f"w3cws: error: WebSocket connection to '{url}' failed: connection refused: "
        f"{NOTHING_ANSWERS}\n"
    )


async def test_rejected_handshake_is_one_error_line(cli: Cli) -> None:
    async with serve(Behavior(reject=403)) as server:
        result = await trio.to_thread.run_sync(lambda: cli.run("connect", server.url))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"w3cws: error: WebSocket connection to '{server.url}/' failed: "
        "opening handshake failed: the server answered with HTTP status 403\n"
    )


async def test_verbose_prints_the_frames(cli: Cli) -> None:
    async with serve() as server:
        result = await trio.to_thread.run_sync(
            lambda: cli.run("connect", "-v", server.url + "/v", stdin="hello\n")
        )
    assert result.returncode == 0
    frames = [line.split("] ", 1)[1] for line in result.stderr.splitlines()]
    # End of input closes at once: the echo may cross our Close on the wire.
    assert frames[:3] == ["> GET /v HTTP/1.1", "< HTTP 101", "> TEXT 'hello' [5 bytes]"]
    assert sorted(frames[3:]) == ["< CLOSE 1000 ''", "< TEXT 'hello' [5 bytes]", "> CLOSE 1000 ''"]


async def test_a_failure_after_open_prints_its_cause(cli: Cli) -> None:
    async def masked_frame(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        key = re.search(rb"(?i)sec-websocket-key: *(\S+)", request)
        assert key is not None
        accept = base64.b64encode(
            hashlib.sha1(key[1] + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            # A masked frame from a server (RFC 6455 §5.1): the client fails with 1002.
            b"\x81\x82abcd\x09\x0b"
        )
        with trio.move_on_after(TIMEOUT):
            while await stream.receive_some(4096):
                pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, masked_frame, 0, host="127.0.0.1")
        )
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        result = await trio.to_thread.run_sync(lambda: cli.run("connect", url))
        nursery.cancel_scope.cancel()
    assert result.stderr == (
        f"w3cws: WebSocket connection to '{url}' failed: protocol error: "
        "Masked frame from server (w3cws sent close code 1002)\n"
    )


def test_bad_url_is_a_usage_error(any_cli: Cli) -> None:
    result = any_cli.run("connect", "ftp://example.com/")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "w3cws: error: URL 'ftp://example.com/': The URL's scheme must be 'ws', 'wss', "
        "'http' or 'https'; 'ftp' is not allowed.\n"
    )


def test_bad_subprotocol_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--protocol", "a b")
    assert result.returncode == 2
    assert result.stderr.startswith("w3cws: error: --protocol: The subprotocol 'a b' is invalid")
    assert len(result.stderr.splitlines()) == 1


def test_handshake_header_is_refused(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--header", "Upgrade: h2c")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "w3cws connect: error: argument --header: "
        "the 'Upgrade' header belongs to the WebSocket handshake; leave it out"
    )


def test_malformed_header_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", "--header", "no colon")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "w3cws connect: error: argument --header: expected 'Name: value', "
        "such as --header 'Authorization: Bearer abc'; got 'no colon'"
    )


async def test_bad_close_code_is_refused_before_connecting(any_cli: Cli) -> None:
    async with serve() as server:
        result = await trio.to_thread.run_sync(
            lambda: any_cli.run("connect", server.url, "--close", "1001")
        )
        assert server.connections == []
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        "w3cws connect: error: argument --close: The close code must be 1000 "
        "or in the range 3000 to 4999; 1001 is neither."
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--close", "abc"],
            "argument --close: expected an integer close code, 1000 or 3000-4999; got 'abc'",
        ),
        (
            ["--reason", "r" * 124],
            "argument --reason: The close reason must be at most 123 bytes of UTF-8; "
            "this one is 124 bytes. Shorten it.",
        ),
        (
            ["--origin", "https://a\nb"],
            "argument --origin: the value of header 'Origin' must be latin-1 text "
            "without line breaks: 'https://a\\nb'",
        ),
    ],
)
def test_each_bad_option_is_named(cli: Cli, arguments: list[str], message: str) -> None:
    result = cli.run("connect", "ws://127.0.0.1/", *arguments)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == f"w3cws connect: error: {message}"


def test_the_url_is_not_taken_for_a_reason(cli: Cli) -> None:
    # --close takes one value: the URL after it stays the URL.
    result = cli.run("connect", "--close", "4000", "ftp://example.com/")
    assert result.returncode == 2
    assert result.stderr.startswith("w3cws: error: URL 'ftp://example.com/': ")


async def test_reason_alone_closes_with_1000(cli: Cli) -> None:
    async with serve() as server:
        result = await trio.to_thread.run_sync(
            lambda: cli.run("connect", server.url, "--reason", "done")
        )
        [record] = server.connections
        with trio.fail_after(TIMEOUT):
            await record.wait_closed()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "[close] readyState=3 code=1000 reason='done' wasClean=True"
    )
    assert (record.close_code, record.close_reason) == (1000, "done")


async def test_keep_open_listens_after_the_end_of_input(cli: Cli) -> None:
    # The server answers only after the client's input has ended, then
    # closes: with --keep-open the client is still open to print both.
    def answer(record: ConnectionRecord, message: str | bytes) -> list[Action]:
        return [Send(f"got {message!r}"), Close(4001, "server done")]

    async with serve(Behavior(on_message=answer)) as server:
        result = await trio.to_thread.run_sync(
            lambda: cli.run("connect", server.url, "--keep-open", stdin="hello\n")
        )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1:] == [
        "> ws.send('hello')",
        "[message] readyState=1 \"got 'hello'\" (text)",
        "[close] readyState=3 code=4001 reason='server done' wasClean=True",
    ]
