"""Which proxy: the ``proxy=`` argument, and the environment read as curl reads it."""

from __future__ import annotations

import pytest

from w3cws import WebSocket
from w3cws._engine.proxy import Proxy, bypasses, parse_proxy, proxy_for
from w3cws.testing import serve

from .conftest import pproxy, record


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://p:3128", Proxy("http", "p", 3128)),
        ("p:3128", Proxy("http", "p", 3128)),  # no scheme: http, as curl
        ("HTTP://P", Proxy("http", "p", 80)),
        ("https://p", Proxy("https", "p", 443)),
        ("socks5://u:pw@[::1]:1080", Proxy("socks5", "::1", 1080, "u", "pw")),
        ("socks5h://p", Proxy("socks5h", "p", 1080)),
        ("socks4://p:9", Proxy("socks4", "p", 9)),
        ("http://us%40er:p%3Ass@p:1", Proxy("http", "p", 1, "us@er", "p:ss")),
    ],
)
def test_parse_proxy(url: str, expected: Proxy) -> None:
    assert parse_proxy(url) == expected


def test_a_proxy_shows_without_credentials() -> None:
    assert str(parse_proxy("http://u:secret@p:1")) == "http://p:1"
    assert str(parse_proxy("socks5://[::1]:2")) == "socks5://[::1]:2"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://p:21", "unsupported scheme 'ftp'"),
        ("socks4a://p", "unsupported scheme 'socks4a'"),
        ("http://p:99999", "bad port"),
        ("http://:8080", "no host"),
    ],
)
def test_bad_proxy_urls(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_proxy(url)


@pytest.mark.parametrize(
    ("environ", "secure", "expected"),
    [
        ({"http_proxy": "http://a:1"}, False, "http://a:1"),
        ({"http_proxy": "http://a:1"}, True, None),  # wss reads https_proxy
        ({"https_proxy": "http://b:2"}, True, "http://b:2"),
        ({"HTTPS_PROXY": "http://b:2"}, True, "http://b:2"),
        ({"https_proxy": "http://b:2", "HTTPS_PROXY": "http://c:3"}, True, "http://b:2"),
        ({"all_proxy": "socks5h://d:4"}, False, "socks5h://d:4"),
        ({"ALL_PROXY": "socks5h://d:4"}, True, "socks5h://d:4"),
        ({"http_proxy": "http://a:1", "all_proxy": "socks5://d:4"}, False, "http://a:1"),
        ({"http_proxy": "", "all_proxy": "socks5://d:4"}, False, "socks5://d:4"),
        ({}, False, None),
        ({"http_proxy": "http://a:1", "no_proxy": "example.org"}, False, None),
        ({"http_proxy": "http://a:1", "NO_PROXY": "*"}, False, None),
        ({"http_proxy": "http://a:1", "no_proxy": "<-loopback>"}, False, "http://a:1"),
    ],
)
def test_proxy_from_environment(
    environ: dict[str, str], secure: bool, expected: str | None
) -> None:
    found = proxy_for("example.org", 443 if secure else 80, secure=secure, environ=environ)
    assert (None if found is None else str(found)) == expected


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.9.8.7", "::1"]
)
def test_loopback_is_never_proxied_unless_asked(host: str) -> None:
    # Chromium's implicit bypass rules, and its "<-loopback>" that removes them.
    environ = {"all_proxy": "socks5://p:1"}
    assert proxy_for(host, 80, secure=False, environ=environ) is None
    environ["no_proxy"] = "example.org, <-loopback>"
    assert str(proxy_for(host, 80, secure=False, environ=environ)) == "socks5://p:1"


@pytest.mark.parametrize("host", ["localhost.example", "128.0.0.1", "::2", "mylocalhost"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert str(proxy_for(host, 80, secure=False, environ={"all_proxy": "p:1"})) == "http://p:1"


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "expected"),
    [
        ("example.org", 80, "example.org", True),
        ("www.example.org", 80, "example.org", True),
        ("www.example.org", 80, ".example.org", True),
        ("example.org", 80, ".example.org", True),
        ("www.example.org", 80, "*.example.org", True),
        ("badexample.org", 80, "example.org", False),
        ("example.org", 80, "other.org, example.org", True),
        ("example.org", 80, "other.org example.org", True),
        ("EXAMPLE.org.", 80, "example.ORG", True),
        ("example.org", 80, "example.org:80", True),
        ("example.org", 443, "example.org:80", False),
        ("example.org", 80, "*", True),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("127.0.0.1", 80, "127.0.0.1", True),
        ("127.0.0.1", 80, "127.0.0.1:80", True),
        ("127.0.0.1", 81, "127.0.0.1:80", False),
        ("::1", 80, "::1", True),
        ("::1", 80, "[::1]:80", True),
        ("::1", 81, "[::1]:80", False),
        ("fd00::5", 80, "fd00::/8", True),
        ("10.1.2.3", 80, "example.org", False),
        ("example.org", 80, "10.0.0.0/8", False),
        ("example.org", 80, "", False),
        ("example.org", 80, "<-loopback>", False),
    ],
)
def test_no_proxy(host: str, port: int, no_proxy: str, expected: bool) -> None:
    assert bypasses(host, port, no_proxy) is expected


def test_constructor_checks_the_proxy_argument() -> None:
    with pytest.raises(ValueError, match="unsupported scheme"):
        WebSocket("ws://127.0.0.1:1/", proxy="gopher://p:70")
    with pytest.raises(TypeError, match="proxy must be"):
        WebSocket("ws://127.0.0.1:1/", proxy=3128)  # type: ignore[arg-type]


async def test_environment_proxy_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve() as server, pproxy("http") as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        # Loopback would be reached directly; Chromium's rule takes that away.
        monkeypatch.setenv("no_proxy", "<-loopback>")
        r = record(WebSocket(server.url + "/"))
        await r.wait_open()
        r.ws.close()
        await r.wait_closed()
        await proxy.wait_for_tunnel(server.port)


@pytest.mark.parametrize("how", ["no_proxy", "proxy=None"])
async def test_direct_despite_the_environment(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve() as server, pproxy("socks5") as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        if how == "no_proxy":
            monkeypatch.setenv("no_proxy", f"<-loopback>,localhost,127.0.0.0/8:{server.port}")
            ws = WebSocket(server.url + "/")
        else:
            monkeypatch.setenv("no_proxy", "<-loopback>")
            ws = WebSocket(server.url + "/", proxy=None)
        r = record(ws)
        await r.wait_open()
        ws.close()
        await r.wait_closed()
        # And the same socket through the proxy, to show it was listening.
        r = record(WebSocket(server.url + "/", proxy=proxy.url))
        await r.wait_open()
        r.ws.close()
        await r.wait_closed()
        await proxy.wait_for_tunnel(server.port)
        assert len(proxy.tunnels()) == 1
