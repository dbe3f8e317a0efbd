"""WebSocket constructor URL steps (WS §3.1 steps 1-5) in w3cws._url."""

from __future__ import annotations

import builtins
import dataclasses

import ada_url
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w3cws._dom.dom_exception import DOMException, SyntaxError
from w3cws._url import WebSocketURL, parse_websocket_url

# (href, host, port, explicit_port, resource_name, host_header, origin)
_Fields = tuple[str, str, int, int | None, str, str, str]


def _url(*fields: *_Fields) -> WebSocketURL:
    href, host, port, explicit_port, resource_name, host_header, origin = fields
    return WebSocketURL(
        href=href,
        secure=href.startswith("wss:"),
        host=host,
        port=port,
        explicit_port=explicit_port,
        resource_name=resource_name,
        host_header=host_header,
        origin=origin,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://example.com", _url("ws://example.com/", "example.com", 80, None, "/",
                                  "example.com", "ws://example.com")),
        ("wss://example.com", _url("wss://example.com/", "example.com", 443, None, "/",
                                   "example.com", "wss://example.com")),
        # Scheme and host lowercased, default port dropped, spaces percent-encoded.
        ("WS://Example.COM:80/a b?x y", _url("ws://example.com/a%20b?x%20y", "example.com", 80,
                                             None, "/a%20b?x%20y", "example.com",
                                             "ws://example.com")),
        ("ws://h:8080/chat?x=1", _url("ws://h:8080/chat?x=1", "h", 8080, 8080, "/chat?x=1",
                                      "h:8080", "ws://h:8080")),
        ("wss://h:443/", _url("wss://h/", "h", 443, None, "/", "h", "wss://h")),
        ("wss://h:80/", _url("wss://h:80/", "h", 80, 80, "/", "h:80", "wss://h:80")),
        ("ws://h:443/", _url("ws://h:443/", "h", 443, 443, "/", "h:443", "ws://h:443")),
        # Step 3: a plain scheme change; an elided default port stays elided.
        ("http://h/p", _url("ws://h/p", "h", 80, None, "/p", "h", "ws://h")),
        ("https://h:443/p", _url("wss://h/p", "h", 443, None, "/p", "h", "wss://h")),
        ("http://h:443/", _url("ws://h:443/", "h", 443, 443, "/", "h:443", "ws://h:443")),
        ("https://h:80/", _url("wss://h:80/", "h", 80, 80, "/", "h:80", "wss://h:80")),
        ("HTTPS://H:8443/x", _url("wss://h:8443/x", "h", 8443, 8443, "/x", "h:8443",
                                  "wss://h:8443")),
        # Special scheme: the slashes are optional.
        ("ws:h", _url("ws://h/", "h", 80, None, "/", "h", "ws://h")),
        ("ws:/h/p", _url("ws://h/p", "h", 80, None, "/p", "h", "ws://h")),
        # Empty port after ':' means no port.
        ("ws://h:/", _url("ws://h/", "h", 80, None, "/", "h", "ws://h")),
        # Query edge cases: "?" alone is an empty (non-null) query, kept.
        ("ws://h?x", _url("ws://h/?x", "h", 80, None, "/?x", "h", "ws://h")),
        ("ws://h/p?", _url("ws://h/p?", "h", 80, None, "/p?", "h", "ws://h")),
        # IPv6: brackets in href, Host and origin, not in the connect host.
        ("ws://[::1]:8080/x", _url("ws://[::1]:8080/x", "::1", 8080, 8080, "/x",
                                   "[::1]:8080", "ws://[::1]:8080")),
        ("wss://[2001:DB8::1]/", _url("wss://[2001:db8::1]/", "2001:db8::1", 443, None, "/",
                                      "[2001:db8::1]", "wss://[2001:db8::1]")),
        # IPv4, including the WHATWG number forms.
        ("ws://127.0.0.1:9000/", _url("ws://127.0.0.1:9000/", "127.0.0.1", 9000, 9000, "/",
                                      "127.0.0.1:9000", "ws://127.0.0.1:9000")),
        ("ws://0x7f.1/", _url("ws://127.0.0.1/", "127.0.0.1", 80, None, "/", "127.0.0.1",
                              "ws://127.0.0.1")),
        # Non-ASCII hosts become punycode (IDNA), everywhere.
        ("ws://bücher.de/", _url("ws://xn--bcher-kva.de/", "xn--bcher-kva.de", 80, None, "/",
                                 "xn--bcher-kva.de", "ws://xn--bcher-kva.de")),
        ("wss://ÉXAMPLE.com:444/", _url("wss://xn--xample-9ua.com:444/", "xn--xample-9ua.com",
                                        444, 444, "/", "xn--xample-9ua.com:444",
                                        "wss://xn--xample-9ua.com:444")),
        # Non-ASCII path: UTF-8 percent-encoded; a lone surrogate becomes U+FFFD first.
        ("ws://h/é", _url("ws://h/%C3%A9", "h", 80, None, "/%C3%A9", "h", "ws://h")),
        ("ws://h/\ud800", _url("ws://h/%EF%BF%BD", "h", 80, None, "/%EF%BF%BD", "h", "ws://h")),
        ("ws://h/?q=\udfff", _url("ws://h/?q=%EF%BF%BD", "h", 80, None, "/?q=%EF%BF%BD", "h",
                                  "ws://h")),
        # A valid surrogate pair is one character, not two replacements.
        ("ws://h/\ud83d\ude00", _url("ws://h/%F0%9F%98%80", "h", 80, None, "/%F0%9F%98%80", "h",
                                     "ws://h")),
        # Leading/trailing C0 controls and spaces are trimmed; tabs/newlines removed.
        ("  ws://h/a\tb\n ", _url("ws://h/ab", "h", 80, None, "/ab", "h", "ws://h")),
        # Credentials stay in href but not in the host or origin.
        (
            "ws://u:p@h:81/",
            dataclasses.replace(
                _url("ws://u:p@h:81/", "h", 81, 81, "/", "h:81", "ws://h:81"), userinfo="u:p"
            ),
        ),
        # Dot segments are resolved.
        ("ws://h/a/../b/./c", _url("ws://h/b/c", "h", 80, None, "/b/c", "h", "ws://h")),
        # Bad ports are not this step's business (Fetch fails the connection later).
        ("ws://h:0/", _url("ws://h:0/", "h", 0, 0, "/", "h:0", "ws://h:0")),
        ("ws://h:6667/", _url("ws://h:6667/", "h", 6667, 6667, "/", "h:6667", "ws://h:6667")),
        ("ws://h:65535/", _url("ws://h:65535/", "h", 65535, 65535, "/", "h:65535",
                               "ws://h:65535")),
    ],
)  # fmt: skip
def test_parse_absolute(url: str, expected: WebSocketURL) -> None:
    assert parse_websocket_url(url) == expected


@pytest.mark.parametrize(
    ("url", "base_url", "href"),
    [
        # WS §1 table: "test" on page http://h/d/p -> ws://h/d/test.
        ("test", "http://h/d/p", "ws://h/d/test"),
        ("/chat", "https://h:8443/d/p", "wss://h:8443/chat"),
        ("?q", "http://h/d/p?old", "ws://h/d/p?q"),
        ("//other:81/z", "https://h/p", "wss://other:81/z"),
        ("../x", "wss://h/a/b/c", "wss://h/a/x"),
        # Empty input is the base itself, without the base's fragment.
        ("", "http://h/p?q#frag", "ws://h/p?q"),
        # An absolute url ignores the base.
        ("ws://a/", "https://b/", "ws://a/"),
        ("http://a/", "wss://b/", "ws://a/"),
    ],
)
def test_parse_relative_with_base(url: str, base_url: str, href: str) -> None:
    assert parse_websocket_url(url, base_url).href == href


@pytest.mark.parametrize(
    ("url", "base_url", "message_part"),
    [
        # No base: a relative URL says how to supply one.
        ("test", None, "base_url="),
        ("/chat", None, "base_url="),
        ("?q", None, "base_url="),
        ("", None, "base_url="),
        ("//h/x", None, "base_url="),
        # WPT Create-invalid-urls "#test": resolves to the page URL plus a fragment.
        ("#test", "http://h/p", "fragment"),
        ("#test", None, "base_url="),
        # WPT Create-invalid-urls: spaces in the host.
        ("ws://foo bar.com/", None, "could not be parsed"),
        ("wss://foo bar.com/", None, "could not be parsed"),
        ("ws://foo bar/", None, "could not be parsed"),
        # Special schemes need a non-empty host.
        ("ws://", None, "could not be parsed"),
        ("wss://", None, "could not be parsed"),
        ("ws://:80/", None, "could not be parsed"),
        ("ws:///", None, "could not be parsed"),
        # Forbidden host code points, bad ports, bad IPs.
        ("ws://a<b/", None, "could not be parsed"),
        ("ws://a\x00b/", None, "could not be parsed"),
        ("ws://h:65536/", None, "could not be parsed"),
        ("ws://h:8o/", None, "could not be parsed"),
        ("ws://[::1/", None, "could not be parsed"),
        ("ws://1.2.3.256/", None, "could not be parsed"),
        ("ws://h:-1/", "http://base/", "against base_url"),
        # Step 4: other schemes (WPT Create-invalid-urls, Create-wrong-scheme).
        ("ftp://h/", None, "'ftp' is not allowed"),
        ("mailto:example@example.org", None, "'mailto' is not allowed"),
        ("about:blank", None, "'about' is not allowed"),
        ("file:///tmp/x", None, "'file' is not allowed"),
        ("data:text/plain,x", None, "'data' is not allowed"),
        ("wsx://h/", None, "'wsx' is not allowed"),
        ("test", "file:///home/page.html", "'file' is not allowed"),
        # The scheme is checked before the fragment.
        ("ftp://h/#x", None, "'ftp' is not allowed"),
        # Step 5: fragments, empty ones included (WPT "/#" and "/#test").
        ("ws://h/#", None, "fragment"),
        ("ws://h/#test", None, "fragment"),
        ("wss://h:8443/#", None, "fragment"),
        ("http://h/?q#", None, "fragment"),
        ("https://h/#x", None, "fragment"),
        ("ws://h#", None, "fragment"),
        # A bad base URL.
        ("test", "notaurl", "base_url 'notaurl' is not a valid absolute URL"),
        ("ws://h/", "", "base_url '' is not a valid absolute URL"),
        ("test", "about:blank", "against base_url 'about:blank'"),
    ],
)
def test_parse_syntax_error(url: str, base_url: str | None, message_part: str) -> None:
    with pytest.raises(SyntaxError) as info:
        parse_websocket_url(url, base_url)
    assert isinstance(info.value, DOMException)
    assert info.value.name == "SyntaxError"
    assert info.value.code == 12
    assert message_part in info.value.message


def test_scheme_message_is_exact() -> None:
    with pytest.raises(SyntaxError) as info:
        parse_websocket_url("ftp://h/")
    assert info.value.message == (
        "The URL's scheme must be 'ws', 'wss', 'http' or 'https'; 'ftp' is not allowed."
    )


def test_syntax_error_is_not_the_builtin() -> None:
    with pytest.raises(SyntaxError) as info:
        parse_websocket_url("ws://h/#")
    assert not isinstance(info.value, builtins.SyntaxError)


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        (b"ws://h/", None),
        (None, None),
        (42, None),
        (["ws://h/"], None),
        ("test", b"http://h/"),
        ("test", 1),
    ],
)
def test_parse_type_error(url: object, base_url: object) -> None:
    with pytest.raises(TypeError):
        parse_websocket_url(url, base_url)  # type: ignore[arg-type]


def test_base_url_lone_surrogate_is_converted() -> None:
    assert parse_websocket_url("x", "http://h/\udc00/p").href == "ws://h/%EF%BF%BD/x"


def test_result_is_frozen() -> None:
    parsed = parse_websocket_url("ws://h/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.href = "ws://other/"  # type: ignore[misc]


# -- the fields agree with ada's own component getters --------------------------------

_PIECE = st.text(alphabet="aZ09-._~!$&'()*+,;=:@/?[]%# \\é\u4e2d\t", max_size=8)


@settings(max_examples=800, deadline=None)
@given(
    scheme=st.sampled_from(["ws", "wss", "http", "https", "WS", "HtTpS"]),
    userinfo=st.one_of(st.just(""), _PIECE.map(lambda s: s + "@")),
    host=st.sampled_from(
        ["h", "Example.COM", "127.0.0.1", "0x7f.1", "[::1]", "[0:0::FFFF:1.2.3.4]", "bücher.de"]
    ),
    port=st.sampled_from(["", ":", ":80", ":443", ":8080", ":0", ":65535"]),
    path=_PIECE,
    query=st.one_of(st.just(""), _PIECE.map(lambda s: "?" + s)),
)
def test_fields_agree_with_ada(  # noqa: PLR0917 - one argument per URL piece
    scheme: str, userinfo: str, host: str, port: str, path: str, query: str
) -> None:
    text = f"{scheme}://{userinfo}{host}{port}/{path}{query}"
    try:
        ours = parse_websocket_url(text)
    except SyntaxError:
        return  # unparsable, or a fragment: the error tests above cover those
    oracle = ada_url.URL(ours.href)  # ours.href is already ws/wss
    assert oracle.href == ours.href
    hostname = oracle.hostname
    assert ours.host == (hostname[1:-1] if hostname.startswith("[") else hostname)
    assert ours.explicit_port == (int(oracle.port) if oracle.port else None)
    assert ours.host_header == oracle.host
    assert ours.origin == oracle.origin
    assert ours.secure == (oracle.protocol == "wss:")
    query_part = oracle.search or ("?" if oracle.href.endswith("?") else "")
    assert ours.resource_name == oracle.pathname + query_part


def test_repeated_parses_give_what_a_fresh_parse_gives() -> None:
    # Results are kept by (url, base_url): a repeat must not answer for
    # another base, a failure is never kept, and more URLs than are kept
    # still parse right.
    from w3cws import _url

    urls = [f"ws://h{i}.test:{1000 + i}/p?q={i}" for i in range(3 * _url._PARSED_MAX)]
    for _ in range(2):
        for url in urls:
            assert parse_websocket_url(url) == _url._parse(url, None)
    for _ in range(2):
        assert parse_websocket_url("/chat", "https://a.test/").href == "wss://a.test/chat"
        assert parse_websocket_url("/chat", "http://b.test:81/").href == "ws://b.test:81/chat"
        with pytest.raises(SyntaxError):
            parse_websocket_url("/chat")


def test_a_str_subclass_is_parsed_by_its_value() -> None:
    class Odd(str):
        # Equal to anything, and hashed like the URL parsed first.
        def __hash__(self) -> int:
            return hash("ws://a.test/")

        def __eq__(self, other: object) -> bool:
            return True

    assert parse_websocket_url("ws://a.test/") != parse_websocket_url(Odd("ws://b.test/"))
    assert parse_websocket_url(Odd("ws://b.test/")).host == "b.test"
