"""WebSockets through real proxy servers (pproxy, started per test).

Every test checks both ends: the WebSocket's events, and the proxy's own
log line for the tunnel, so a connection that silently went direct fails.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from functools import partial

import pytest
import trio
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from w3cws import WebSocket
from w3cws.testing import serve

from .conftest import FailingResolver, Tls, pproxy, record


async def echo_through(proxy_url: str, target_url: str, **kwargs: object) -> list[object]:
    ws = WebSocket(target_url, proxy=proxy_url, **kwargs)  # type: ignore[arg-type]
    ws.binaryType = "arraybuffer"
    r = record(ws)
    await r.wait_open()
    ws.send("hello")
    ws.send(b"\x00\x01")
    await r.wait_messages(2)
    ws.close(1000, "done")
    await r.wait_closed()
    return r.events


# SOCKS4 has a user id but no password: no "auth" case for it.
PROXIES = [
    ("http", None),
    ("http", "user:pa55"),
    ("socks5", None),
    ("socks5", "user:pa55"),
    ("socks5h", None),
    ("socks5h", "user:pa55"),
    ("socks4", None),
]


@pytest.mark.parametrize(("scheme", "auth"), PROXIES)
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_echo_through_proxy(scheme: str, auth: str | None, secure: bool, tls: Tls) -> None:
    server_context = tls.server_context() if secure else None
    async with (
        serve(ssl_context=server_context) as server,
        pproxy(scheme.rstrip("h"), auth=auth) as proxy,
    ):
        kwargs = {"ssl_context": tls.client_context()} if secure else {}
        url = proxy.url.replace("socks5://", f"{scheme}://")
        events = await echo_through(url, server.url + "/", **kwargs)
        assert events == [
            ("open",),
            ("message", "hello"),
            ("message", b"\x00\x01"),
            ("close", 1000, True),
        ]
        line = await proxy.wait_for_tunnel(server.port)
        assert line.startswith(scheme.rstrip("h") + " ")


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_https_proxy_tls_to_proxy_then_tls_to_target(secure: bool, tls: Tls) -> None:
    # TLS to the proxy, CONNECT inside it, and for wss a second TLS session
    # to the target inside the tunnel, both verified against the test CA.
    server_context = tls.server_context() if secure else None
    async with (
        serve(ssl_context=server_context) as server,
        pproxy("http+ssl", auth="u:p", tls_file=tls.cert_file) as proxy,
    ):
        assert proxy.url.startswith("https://u:p@")
        events = await echo_through(proxy.url, server.url + "/", ssl_context=tls.client_context())
        assert events[0] == ("open",)
        assert events[-1] == ("close", 1000, True)
        await proxy.wait_for_tunnel(server.port)


async def test_independent_target_through_http_proxy(tls: Tls) -> None:
    # The websockets library as the target: the proxy path does not depend
    # on our own server's habits. Its asyncio server runs on a loop in a
    # thread of its own.
    async def echo(conn: ServerConnection) -> None:
        async for message in conn:
            await conn.send(message)

    ready = threading.Event()
    stop: list[asyncio.Future[None]] = []
    port: list[int] = []

    def run() -> None:
        async def main() -> None:
            async with ws_serve(echo, "127.0.0.1", 0) as server:
                port.append(next(iter(server.sockets)).getsockname()[1])
                stop.append(asyncio.get_running_loop().create_future())
                ready.set()
                await stop[0]

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        await trio.to_thread.run_sync(partial(ready.wait, 10))
        async with pproxy("http+socks5", auth="a:b") as proxy:
            for scheme in ("http", "socks5"):
                url = proxy.url.replace("http://", f"{scheme}://")
                events = await echo_through(url, f"ws://127.0.0.1:{port[0]}/")
                assert events[:3] == [("open",), ("message", "hello"), ("message", b"\x00\x01")]
            assert len([t for t in proxy.tunnels() if f":{port[0]}" in t]) == 2
    finally:
        loop = stop[0].get_loop() if stop else None
        if loop is not None:
            loop.call_soon_threadsafe(stop[0].set_result, None)
        await trio.to_thread.run_sync(partial(thread.join, 10))


# -- failures: error, close 1006, and the cause on the log ------------------


async def expect_failure(
    caplog: pytest.LogCaptureFixture, url: str, proxy: str, **kwargs: object
) -> str:
    caplog.set_level(logging.WARNING, logger="w3cws")
    ws = WebSocket(url, proxy=proxy, **kwargs)  # type: ignore[arg-type]
    r = record(ws)
    await r.wait_closed()
    assert r.types == ["error", "close"]
    assert r.events[-1] == ("close", 1006, False)
    [line] = [rec for rec in caplog.records if rec.name == "w3cws.connection"]
    assert line.levelno == logging.WARNING
    return line.getMessage()


async def test_refused_proxy(caplog: pytest.LogCaptureFixture) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        message = await expect_failure(caplog, "ws://127.0.0.1:9000/", f"http://127.0.0.1:{port}")
    assert message == (
        "WebSocket connection to 'ws://127.0.0.1:9000/' failed: proxy failure: "
        f"could not connect to proxy http://127.0.0.1:{port}: connection refused"
    )


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_proxy_wants_credentials(scheme: str, caplog: pytest.LogCaptureFixture) -> None:
    async with serve() as server, pproxy(scheme, auth="user:secret") as proxy:
        bare = proxy.url.replace("user:secret@", "")
        message = await expect_failure(caplog, server.url + "/", bare)
        assert not proxy.tunnels()
    if scheme == "http":
        assert message.endswith(f"proxy {bare} requires authentication (HTTP 407)")
    else:
        # pproxy closes the connection instead of answering "no acceptable method".
        assert message.endswith(f"proxy {bare} closed the connection during the SOCKS5 greeting")
    assert len(server.connections) == 0


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_proxy_refuses_wrong_credentials(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve() as server, pproxy(scheme, auth="user:secret") as proxy:
        wrong = proxy.url.replace("user:secret", "user:wrong")
        message = await expect_failure(caplog, server.url + "/", wrong)
    shown = wrong.replace("user:wrong@", "")
    assert "wrong" not in message  # credentials never reach the log
    if scheme == "http":
        assert message.endswith(f"proxy {shown} refused the credentials (HTTP 407)")
    else:
        assert message.endswith(f"proxy {shown} closed the connection during SOCKS5 authentication")


async def test_proxy_cannot_reach_target(caplog: pytest.LogCaptureFixture) -> None:
    async with pproxy("http") as proxy:
        with trio.socket.socket() as sock:
            await sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            message = await expect_failure(caplog, f"ws://127.0.0.1:{port}/", proxy.url)
    # pproxy closes the connection rather than answering 502.
    assert message == (
        f"WebSocket connection to 'ws://127.0.0.1:{port}/' failed: proxy failure: "
        f"proxy {proxy.url} closed the connection before answering CONNECT"
    )


async def test_proxy_drops_the_tunnel(caplog: pytest.LogCaptureFixture) -> None:
    # A "proxy" that reads the CONNECT and closes the connection.
    async def drop(stream: trio.SocketStream) -> None:
        await stream.receive_some(4096)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, drop, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        message = await expect_failure(caplog, "ws://example.test/", f"http://127.0.0.1:{port}")
        nursery.cancel_scope.cancel()
    assert message == (
        "WebSocket connection to 'ws://example.test/' failed: proxy failure: "
        f"proxy http://127.0.0.1:{port} closed the connection before answering CONNECT"
    )


async def test_proxy_that_never_answers_times_out(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    async def stall(stream: trio.SocketStream) -> None:
        await stream.receive_some(4096)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, stall, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        message = await expect_failure(
            caplog, "ws://example.test/", f"socks5h://127.0.0.1:{port}", open_timeout=7
        )
        nursery.cancel_scope.cancel()
    assert message.endswith("failed: timed out: not open after 7 s (open_timeout)")


async def test_https_proxy_certificate_is_verified(
    caplog: pytest.LogCaptureFixture, tls: Tls
) -> None:
    # The proxy's certificate comes from the test CA, which the system trust
    # store (the default) does not know.
    async with pproxy("http+ssl", tls_file=tls.cert_file) as proxy:
        message = await expect_failure(caplog, "ws://example.test/", proxy.url)
        assert not proxy.tunnels()
    assert message.startswith(
        f"WebSocket connection to 'ws://example.test/' failed: proxy failure: "
        f"TLS to proxy {proxy.url} failed: "
    )
    assert "certificate verify failed" in message


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h"])
async def test_ipv6_target_through_proxy(scheme: str) -> None:
    # CONNECT [::1]:port, and the SOCKS5 IPv6 address type.
    async with serve(host="::1") as server, pproxy(scheme.rstrip("h")) as proxy:
        url = proxy.url.replace("socks5://", f"{scheme}://")
        events = await echo_through(url, server.url + "/")
        assert events[:2] == [("open",), ("message", "hello")]
        line = await proxy.wait_for_tunnel(server.port)
        assert "::1" in line


async def test_bad_proxy_in_the_environment_is_a_value_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "gopher://proxy.example:70")
    with pytest.raises(
        ValueError, match=re.escape("'gopher://proxy.example:70' has an unsupported")
    ):
        WebSocket("ws://example.test/")
    # No environment lookup when the argument says where to go.
    ws = WebSocket("ws://127.0.0.1:1/", proxy=None)
    ws.close()
    with trio.fail_after(5):
        await ws.wait_for("close")


async def test_socks5_resolves_the_name_here(caplog: pytest.LogCaptureFixture) -> None:
    # socks5 (not socks5h): a name that does not resolve here fails as DNS
    # does, before the proxy is asked; socks5h leaves the name to the proxy.
    previous = trio.socket.set_custom_hostname_resolver(FailingResolver())
    try:
        async with pproxy("socks5") as proxy:
            message = await expect_failure(caplog, "ws://no-such-host.test/", proxy.url)
            assert not proxy.tunnels()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    assert message == (
        "WebSocket connection to 'ws://no-such-host.test/' failed: "
        "DNS lookup failed (Name or service not known)"
    )
