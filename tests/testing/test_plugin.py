"""The pytest plugin, run the way a user runs it: a fresh pytest session via pytester.

The user's project enables pytest-trio's trio mode in its ini file; our plugin
comes in through its ``pytest11`` entry point, with nothing in conftest.py.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import trio
from websockets.sync.client import connect

from w3cws.testing import Behavior, Send


def talk(url, message):
    with connect(url, open_timeout=2, ping_interval=None) as ws:
        ws.send(message)
        return ws.recv(timeout=2)


async def test_echo_server(w3cws_server):
    with trio.fail_after(5):
        answer = await trio.to_thread.run_sync(talk, w3cws_server.url, "ping?")
        assert answer == "ping?"
        assert w3cws_server.connections[0].messages == ["ping?"]


async def test_factory_starts_servers(w3cws_server_factory):
    with trio.fail_after(5):
        loud = await w3cws_server_factory(Behavior(on_message=lambda rec, m: [Send(m.upper())]))
        plain = await w3cws_server_factory()
        assert loud.port != plain.port
        assert await trio.to_thread.run_sync(talk, loud.url, "hey") == "HEY"
        assert await trio.to_thread.run_sync(talk, plain.url, "hey") == "hey"
"""


def test_fixtures_in_a_user_project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "trio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    # Control: the fixtures really come from the entry point named "w3cws".
    result = pytester.runpytest("-p", "trio", "-p", "no:cacheprovider", "-p", "no:w3cws")
    result.assert_outcomes(errors=2)


CLIENT_TESTS = """
import trio

LEFT = []


async def test_a_leaves_sockets_open(w3cws_server, w3cws_client_factory):
    ws = w3cws_client_factory(w3cws_server.url, ["chat"])
    opened = trio.Event()
    ws.onopen = lambda event: opened.set()
    with trio.fail_after(5):
        await opened.wait()
    assert ws.protocol == "chat"
    LEFT.append((ws, w3cws_server))


def test_b_the_factory_closed_them():
    ws, server = LEFT[0]
    assert ws.readyState == ws.CLOSED
    record = server.connections[0]
    assert record.close_received and record.tcp_closed_by == "server"
"""


def test_client_factory_closes_leftover_sockets(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_clients=CLIENT_TESTS)
    result = pytester.runpytest("-p", "trio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


LOAD_COST_TESTS = """
import sys


def test_nothing_heavy_was_imported():
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("trio", "w3cws"))
    assert loaded == []
"""


def test_loading_the_plugin_imports_neither_trio_nor_w3cws(pytester: pytest.Pytester) -> None:
    # A project that does not use w3cws (and has no pytest-trio) pays nothing
    # for the plugin: no trio, no server, not even the w3cws package.
    pytester.makeini("[pytest]\n")  # not the configuration of the project around it
    pytester.makepyfile(test_plain=LOAD_COST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:trio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # Control: the plugin was loaded in that run.
    listed = pytester.runpytest_subprocess("-p", "no:trio", "--trace-config", "--co")
    assert any("_w3cws_pytest" in line for line in listed.outlines)


INTERCEPT_TESTS = """
import trio
from w3cws import WebSocket
from w3cws._engine import intercept as seam


async def test_a_drives_a_hard_coded_url(w3cws_intercept):
    server = w3cws_intercept("wss://app.example.test/*")
    ws = WebSocket("wss://app.example.test/feed")
    ws.onopen = lambda event: ws.send("hi")
    conn = await server.next_connection()
    assert await conn.next_message() == "hi"
    assert len(seam.routes) == 1


def test_b_teardown_ended_the_interception():
    assert seam.routes == []


async def test_c_a_missing_message_fails_with_what_never_came(w3cws_intercept, autojump_clock):
    server = w3cws_intercept("wss://app.example.test/feed")
    WebSocket("wss://app.example.test/feed")
    conn = await server.next_connection()
    await conn.next_message(timeout=30)


async def test_d_a_missing_connection_too(w3cws_intercept, autojump_clock):
    server = w3cws_intercept("wss://app.example.test/feed")
    await server.next_connection(timeout=30)


async def test_e_fault_proxies(w3cws_server, w3cws_fault_proxy_factory, w3cws_client_factory):
    proxy = await w3cws_fault_proxy_factory(w3cws_server.url, chunk_size=1)
    ws = w3cws_client_factory(proxy.url + "/via-proxy")
    ws.onopen = lambda event: ws.send("sliced")
    with trio.fail_after(5):
        await w3cws_server.wait_for_connections(1)
        await w3cws_server.connections[0].wait_messages(1)
    assert w3cws_server.connections[0].messages == ["sliced"]
    assert proxy.connections == 1
"""


def test_intercept_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_user_intercept=INTERCEPT_TESTS)
    result = pytester.runpytest("-p", "trio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*TimeoutError: no message from the client on wss://app.example.test/feed "
            "within 30 s (0 received so far)",
            "*TimeoutError: no new connection to intercept('wss://app.example.test/feed') "
            "within 30 s (0 so far)",
        ]
    )
