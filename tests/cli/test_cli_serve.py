"""``w3cws serve`` as a subprocess, with clients in the test's trio run and ``w3cws connect``.

The server prints ``listening on URL`` first (read for the port), then one
line per event of each connection, numbered ``[#N]`` in accept order.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import trio

from w3cws import CloseEvent, Event, MessageEvent, WebSocket

from .conftest import TIMEOUT, Cli, serve_cli


async def exchange(url: str, outgoing: list[str], *, expect: int | None) -> list[object]:
    """Open ``url``, send ``outgoing``, and close(1000, 'done') after ``expect`` messages.

    With ``expect=None`` the client never closes: the server must. Returns the
    messages, then ``(code, reason, wasClean)`` of the close event.
    """
    seen: list[object] = []
    closed = trio.Event()
    ws = WebSocket(url)
    ws.binaryType = "arraybuffer"

    def on_open(event: Event) -> None:
        for data in outgoing:
            ws.send(data)
        if expect == 0:
            ws.close(1000, "done")

    def on_message(event: MessageEvent) -> None:
        seen.append(event.data)
        if len(seen) == expect:
            ws.close(1000, "done")

    def on_close(event: CloseEvent) -> None:
        seen.append((event.code, event.reason, event.wasClean))
        closed.set()

    ws.onopen = on_open
    ws.onmessage = on_message
    ws.onclose = on_close
    with trio.fail_after(TIMEOUT):
        await closed.wait()
    return seen


async def test_echo_server_prints_every_event(any_cli: Cli) -> None:
    async with serve_cli(any_cli) as (server, port):
        seen = await exchange(f"ws://127.0.0.1:{port}/chat", ["hi"], expect=1)
        assert seen == ["hi", (1000, "done", True)]
        assert await server.lines(7) == [
            "[#1] request /chat",
            "[#1] open subprotocol=None deflate=True",
            "[#1] received 'hi' (text)",
            "[#1] sent 'hi' (text)",
            "[#1] received close code=1000 reason='done'",
            "[#1] sent close code=1000 reason='done'",
            "[#1] TCP closed by the server",
        ]
        server.signal(signal.SIGTERM)
        status, rest, errors = await server.finish()
    assert (status, rest, errors) == (0, ["server stopped"], "")


async def test_ctrl_c_stops_the_server(cli: Cli) -> None:
    async with serve_cli(cli) as (server, _):
        server.signal(signal.SIGINT)
        status, rest, errors = await server.finish()
    assert (status, rest, errors) == (0, ["server stopped"], "")


async def test_connections_are_numbered_and_the_url_language_works(cli: Cli) -> None:
    async with serve_cli(cli) as (server, port):
        url = f"ws://127.0.0.1:{port}"
        assert await exchange(url + "/?send=hey", [], expect=1) == ["hey", (1000, "done", True)]
        assert await exchange(url + "/?reject=404", [], expect=None) == [(1006, "", False)]
        assert await server.lines(9) == [
            "[#1] request /?send=hey",
            "[#1] open subprotocol=None deflate=True",
            "[#1] sent 'hey' (text)",
            "[#1] received close code=1000 reason='done'",
            "[#1] sent close code=1000 reason='done'",
            "[#1] TCP closed by the server",
            "[#2] request /?reject=404",
            "[#2] rejected the handshake with HTTP 404",
            "[#2] TCP closed by the server",
        ]


async def test_script_runs_on_open(cli: Cli, tmp_path: Path) -> None:
    script = tmp_path / "greet.txt"
    script.write_text(
        "# greet, then binary data and a ping, then close\n"
        "send hello there\n"
        "binary 00ff\n"
        "\n"
        "ping are you there\n"
        "delay 0.05\n"
        "close 4000 bye bye\n"
    )
    async with serve_cli(cli, "--script", str(script)) as (server, port):
        seen = await exchange(f"ws://127.0.0.1:{port}", [], expect=None)
        assert seen == ["hello there", b"\x00\xff", (4000, "bye bye", True)]
        # Nothing is read while the script runs, so the Pong comes after it.
        assert await server.lines(10) == [
            "[#1] request /",
            "[#1] open subprotocol=None deflate=True",
            "[#1] sent 'hello there' (text)",
            r"[#1] sent b'\x00\xff' (binary, 2 bytes)",
            "[#1] sent ping b'are you there'",
            "[#1] delay 0.05 s",
            "[#1] sent close code=4000 reason='bye bye'",
            "[#1] received pong b'are you there'",
            "[#1] received close code=4000 reason='bye bye'",
            "[#1] TCP closed by the server",
        ]


@pytest.mark.parametrize("echo", [False, True])
async def test_script_echoes_only_with_echo_option(cli: Cli, tmp_path: Path, echo: bool) -> None:
    script = tmp_path / "hi.txt"
    script.write_text("send hi\n")
    options = ["--script", str(script), *(["--echo"] if echo else [])]
    async with serve_cli(cli, *options) as (server, port):
        seen = await exchange(f"ws://127.0.0.1:{port}", ["ping?"], expect=2 if echo else 1)
        assert seen == [*(["hi", "ping?"] if echo else ["hi"]), (1000, "done", True)]
        lines = await server.lines(8 if echo else 7)
    assert lines == [
        "[#1] request /",
        "[#1] open subprotocol=None deflate=True",
        "[#1] sent 'hi' (text)",
        "[#1] received 'ping?' (text)",
        *(["[#1] sent 'ping?' (text)"] if echo else []),
        "[#1] received close code=1000 reason='done'",
        "[#1] sent close code=1000 reason='done'",
        "[#1] TCP closed by the server",
    ]


async def test_connect_command_against_serve_command(any_cli: Cli) -> None:
    async with serve_cli(any_cli) as (server, port):
        url = f"ws://127.0.0.1:{port}/cli"
        result = await trio.to_thread.run_sync(
            lambda: any_cli.run(
                "connect", url, "--close", "3001", "--reason", "over", stdin="hello\n"
            )
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.splitlines()[-1] == (
            "[close] readyState=3 code=3001 reason='over' wasClean=True"
        )
        assert await server.lines(7) == [
            "[#1] request /cli",
            "[#1] open subprotocol=None deflate=True",
            "[#1] received 'hello' (text)",
            "[#1] sent 'hello' (text)",
            "[#1] received close code=3001 reason='over'",
            "[#1] sent close code=3001 reason='over'",
            "[#1] TCP closed by the server",
        ]


def test_busy_port_is_one_error_line(any_cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = any_cli.run("serve", "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"w3cws: error: cannot listen on 127.0.0.1 port {port}: Address already in use; "
        "choose another with --port N (--port 0 picks a free one)\n"
    )


def test_bad_port_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("serve", "--port", "70000")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        "w3cws serve: error: argument --port: expected a port number in 0..65535, got '70000'"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "bogus 1",
            "unknown word 'bogus'; the words are send, binary, ping, delay, close, reason, "
            "drop, stall, reject, subprotocol, deflate, echo, handshake_delay, on_close, "
            "keep_tcp_open_after_close",
        ),
        (
            "binary zz",
            "bad binary 'zz'; usage: binary HEX: a binary message, its bytes in hexadecimal "
            "(binary 00ff)",
        ),
        ("delay -1", "bad delay '-1'; usage: delay SECONDS: wait, a number >= 0"),
        ("delay soon", "bad delay 'soon'; usage: delay SECONDS: wait, a number >= 0"),
        (
            "close 70000",
            "bad close '70000'; usage: close [CODE [REASON]]: a Close frame, CODE in 0..65535; "
            "none: empty body",
        ),
        ("drop now", "bad drop 'now'; usage: drop: close TCP abruptly, no Close frame"),
    ],
)
def test_bad_script_line_is_a_usage_error(
    cli: Cli, tmp_path: Path, line: str, message: str
) -> None:
    script = tmp_path / "bad.txt"
    script.write_text(f"send fine\n{line}\n")
    result = cli.run("serve", "--port", "0", "--script", str(script))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"w3cws: error: {script}: line 2: {message}\n"


def test_missing_script_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    result = cli.run("serve", "--script", str(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"w3cws: error: cannot read script {missing}: "
        f"[Errno 2] No such file or directory: '{missing}'\n"
    )
