"""``w3cws demo``, the top-level options, and usage errors."""

from __future__ import annotations

import re

from w3cws import __version__

from .conftest import Cli


def test_demo_prints_the_browser_console_trace(any_cli: Cli) -> None:
    result = any_cli.run("demo")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first, second, *rest = result.stdout.splitlines()
    match = re.fullmatch(
        r"# test server on (ws://127\.0\.0\.1:\d+): "
        r"it sends a greeting, then echoes every message",
        first,
    )
    assert match, first
    assert second == f"> ws = WebSocket('{match[1]}/demo', ['demo.v1'])"
    assert rest == [
        "> ws.binaryType = 'arraybuffer'",
        "[open] readyState=1 protocol='demo.v1' "
        "extensions='permessage-deflate; client_max_window_bits=15'",
        "> ws.send('hello')",
        """> ws.send('{"type": "chat", "text": "hi"}')""",
        r"> ws.send(b'\x00\x01\x02\xff')",
        "[message] readyState=1 'Welcome to the w3cws demo server' (text)",
        "[message] readyState=1 'hello' (text)",
        """[message] readyState=1 '{"type": "chat", "text": "hi"}' (text)""",
        "  JSON.parse(event.data) -> {'type': 'chat', 'text': 'hi'}",
        r"[message] readyState=1 b'\x00\x01\x02\xff' (arraybuffer, 4 bytes)",
        "> ws.close(1000, 'demo done')",
        "[close] readyState=3 code=1000 reason='demo done' wasClean=True",
    ]


def test_version(any_cli: Cli) -> None:
    result = any_cli.run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"w3cws {__version__}\n", "")


def test_help_lists_the_commands(cli: Cli) -> None:
    result = cli.run("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: w3cws ")
    for command in ("demo", "connect", "serve"):
        assert re.search(rf"^    {command} +\S", result.stdout, re.MULTILINE), command


def test_missing_command_is_a_usage_error(any_cli: Cli) -> None:
    result = any_cli.run()
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "w3cws: error: the following arguments are required: COMMAND"
    )


def test_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli.run("fly")
    assert result.returncode == 2
    assert "invalid choice: 'fly'" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
