"""Cookies and HTTP Basic authentication in the opening handshake, as browsers do them.

Servers: the ``websockets`` library (its own ``basic_auth`` and a
``process_response`` that sets a cookie) and w3cws's test server.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import Cookie, CookieJar
from typing import Any

import pytest
import trio
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, basic_auth, serve

from w3cws import WebSocket
from w3cws.testing import Behavior
from w3cws.testing import serve as w3cws_serve

from .conftest import Tls, record


@contextmanager
def websockets_server(
    tls: ssl.SSLContext | None = None, **hooks: Callable[..., Any]
) -> Iterator[tuple[str, list[Request]]]:
    """A threaded ``websockets`` echo server; yields its base URL and the requests seen."""
    requests: list[Request] = []

    def handler(conn: ServerConnection) -> None:
        for message in conn:
            conn.send(message)

    process_request = hooks.pop("process_request", None)

    def recording(conn: ServerConnection, request: Request) -> Response | None:
        requests.append(request)
        return process_request(conn, request) if process_request is not None else None

    server = serve(handler, "127.0.0.1", 0, ssl=tls, process_request=recording, **hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "wss" if tls is not None else "ws"
    try:
        yield f"{scheme}://127.0.0.1:{server.socket.getsockname()[1]}", requests
    finally:
        server.shutdown()
        thread.join(5)


def set_cookie(value: str) -> Callable[[ServerConnection, Request, Response], Response]:
    def process_response(conn: ServerConnection, request: Request, response: Response) -> Response:
        response.headers["Set-Cookie"] = value
        return response

    return process_response


async def open_and_close(url: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    r = record(WebSocket(url, **kwargs))
    with trio.fail_after(10):
        await r.changed.wait()
    if r.types == ["open"]:
        r.ws.close()
    await r.wait_closed()
    return r.events


# -- cookies ---------------------------------------------------------------


async def test_set_cookie_is_stored_and_sent_next_time() -> None:
    jar = CookieJar()
    with websockets_server(process_response=set_cookie("session=abc123; Path=/")) as (
        url,
        requests,
    ):
        assert (await open_and_close(url + "/chat", cookies=jar))[0] == ("open",)
        assert [c.name for c in jar] == ["session"]
        assert (await open_and_close(url + "/chat", cookies=jar))[0] == ("open",)
    assert "Cookie" not in requests[0].headers
    assert requests[1].headers["Cookie"] == "session=abc123"


async def test_cookies_follow_the_http_rules_of_the_jar() -> None:
    # Domain, path and Secure as for http://127.0.0.1/ (ws maps to http).
    jar = CookieJar()
    for name, path, secure in [("a", "/", False), ("b", "/other", False), ("c", "/", True)]:
        jar.set_cookie(_cookie(name, "1", "127.0.0.1", path, secure))
    jar.set_cookie(_cookie("d", "1", "example.org", "/", False))
    async with w3cws_serve() as server:
        await open_and_close(server.url + "/chat?x=1", cookies=jar)
        headers = dict(server.connections[0].request_headers)
    assert headers["cookie"] == "a=1"


async def test_wss_sends_secure_cookies(tls: Tls) -> None:
    jar = CookieJar()
    jar.set_cookie(_cookie("s", "2", "127.0.0.1", "/", True))
    async with w3cws_serve(ssl_context=tls.server_context()) as server:
        events = await open_and_close(
            server.url + "/", cookies=jar, ssl_context=tls.client_context()
        )
        assert events[0] == ("open",)
        assert dict(server.connections[0].request_headers)["cookie"] == "s=2"


async def test_own_server_cookie_round_trip() -> None:
    jar = CookieJar()
    behavior = Behavior(extra_response_headers=[("Set-Cookie", "token=xyz; HttpOnly")])
    async with w3cws_serve(behavior) as server:
        await open_and_close(server.url + "/", cookies=jar)
        await open_and_close(server.url + "/", cookies=jar)
        first, second = (dict(c.request_headers) for c in server.connections)
    assert "cookie" not in first
    assert second["cookie"] == "token=xyz"


def test_cookies_must_be_a_cookie_jar() -> None:
    with pytest.raises(TypeError, match="CookieJar"):
        WebSocket("ws://127.0.0.1:1/", cookies={"a": "1"})  # type: ignore[arg-type]


def _cookie(name: str, value: str, domain: str, path: str, secure: bool) -> Cookie:
    return Cookie(
        0, name, value, None, False, domain, False, False, path, True, secure,
        None, False, None, None, {},
    )  # fmt: skip


# -- HTTP Basic authentication (WPT websockets/basic-auth.any.js) ------------


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_basic_auth_from_url_credentials(secure: bool, tls: Tls) -> None:
    # The WPT test: ws://foo:bar@host/ opens against a server that answers
    # 401 + WWW-Authenticate: Basic to a request without credentials.
    server_tls = tls.server_context() if secure else None
    kwargs = {"ssl_context": tls.client_context()} if secure else {}
    auth = basic_auth(realm="wpt", credentials=("foo", "bar"))
    with websockets_server(server_tls, process_request=auth) as (base, requests):
        events = await open_and_close(base.replace("://", "://foo:bar@") + "/basic_auth", **kwargs)
    assert events == [("open",), ("close", 1005, True)]
    # Not sent with the first request; sent once, in a new request, after the 401.
    assert [r.headers.get("Authorization") for r in requests] == [None, "Basic Zm9vOmJhcg=="]


async def test_wrong_credentials_fail_after_one_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="w3cws")
    auth = basic_auth(realm="wpt", credentials=("foo", "bar"))
    with websockets_server(process_request=auth) as (url, requests):
        events = await open_and_close(url.replace("://", "://foo:baz@") + "/")
    assert events == [("error",), ("close", 1006, False)]
    assert len(requests) == 2
    [line] = [r.getMessage() for r in caplog.records if r.name == "w3cws.connection"]
    # The log shows the URL without the credentials.
    assert line == (
        f"WebSocket connection to '{url}/' failed: opening handshake failed: "
        "the server answered with HTTP status 401"
    )


async def test_no_credentials_no_retry() -> None:
    behavior = Behavior(reject=401, reject_headers=[("WWW-Authenticate", 'Basic realm="x"')])
    async with w3cws_serve(behavior) as server:
        events = await open_and_close(server.url + "/")
        assert events == [("error",), ("close", 1006, False)]
        assert len(server.connections) == 1


async def test_only_a_basic_challenge_is_answered() -> None:
    behavior = Behavior(reject=401, reject_headers=[("WWW-Authenticate", 'Bearer realm="x"')])
    async with w3cws_serve(behavior) as server:
        url = server.url.replace("://", "://u:p@") + "/"
        events = await open_and_close(url)
        assert events == [("error",), ("close", 1006, False)]
        assert len(server.connections) == 1


async def test_own_server_second_401_fails() -> None:
    behavior = Behavior(reject=401, reject_headers=[("WWW-Authenticate", "Basic")])
    async with w3cws_serve(behavior) as server:
        events = await open_and_close(server.url.replace("://", "://u%40x:p%3A@") + "/")
        assert events == [("error",), ("close", 1006, False)]
        first, second = (dict(c.request_headers) for c in server.connections)
    assert "authorization" not in first
    assert second["authorization"] == "Basic dUB4OnA6"  # "u@x:p:", decoded then encoded
