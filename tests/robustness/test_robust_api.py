"""Property-based: any argument to the API raises only the documented exceptions.

``@given`` on ``async def`` tests: pytest-trio 0.8 runs each Hypothesis
example in its own ``trio.run``. The constructor test replaces trio's socket
factory and resolver for its run, so no generated URL can reach the network.
"""

from __future__ import annotations

import errno
import socket
import ssl
import warnings

import pytest
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from w3cws import InvalidAccessError, InvalidStateError, SyntaxError, W3CWSWarning, WebSocket
from w3cws.testing import Behavior, serve

from ..websocket.conftest import trace
from .hostile import check_story, engine_errors


class _NoNetwork(trio.abc.SocketFactory, trio.abc.HostnameResolver):
    """Refuses every socket and every name look-up."""

    def socket(self, family=None, type=None, proto=None):  # type: ignore[no-untyped-def]
        raise OSError(errno.EACCES, "no network in this test")

    async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]  # noqa: PLR0917
        raise socket.gaierror(socket.EAI_NONAME, "no names in this test")

    async def getnameinfo(self, sockaddr, flags):  # type: ignore[no-untyped-def]
        raise socket.gaierror(socket.EAI_NONAME, "no names in this test")


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.lists(st.text(max_size=8), max_size=3),
    st.tuples(st.text(max_size=8), st.text(max_size=8)),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
    st.builds(object),
    st.just(ssl.create_default_context),
)
urls = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["ws://", "wss://", "http://", "https://", "WS://", "ftp://", "", "ws:"]),
    st.sampled_from(["127.0.0.1", "[::1]", "127.0.0.1", "[::1]", "", "[::1", "%zz"]),
    st.one_of(st.just(""), st.integers(-1, 70_000).map(":{}".format)),
    st.text(max_size=12).map(lambda p: "/" + p),
    st.sampled_from(["", "", "#frag", "?q=1"]),
)
tokens = st.one_of(st.sampled_from(["chat", "v2.json", "a"]), st.text(max_size=6))
GOOD = {
    "base_url": st.sampled_from([None, "http://127.0.0.1/", "https://[::1]/x/"]),
    "headers": st.dictionaries(
        st.sampled_from(["X-A", "User-Agent", "Cookie"]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
        max_size=2,
    ),
    "origin": st.sampled_from([None, "http://127.0.0.1", "null"]),
    "ssl_context": st.one_of(st.none(), st.builds(ssl.create_default_context)),
    "deflate": st.booleans(),
    "max_message_size": st.integers(1, 2**40),
    "close_timeout": st.floats(0.001, 1e6),
    "tcp_close_timeout": st.floats(0.001, 1e6),
    "open_timeout": st.floats(0.001, 1e6),
}


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """``good`` nine times in ten, anything else the tenth."""
    return st.integers(0, 9).flatmap(lambda i: anything if i == 0 else good)


keywords = st.lists(st.sampled_from(sorted(GOOD)), max_size=3, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({n: mostly(GOOD[n]) for n in names})
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=mostly(urls),
    protocols=mostly(st.one_of(st.none(), tokens, st.lists(tokens, max_size=3))),
    keywords=keywords,
)
async def test_constructor_raises_only_documented_exceptions(
    url: object, protocols: object, keywords: dict[str, object]
) -> None:
    no_network = _NoNetwork()
    trio.socket.set_custom_socket_factory(no_network)
    trio.socket.set_custom_hostname_resolver(no_network)
    try:
        ws = WebSocket(url, protocols, **keywords)  # type: ignore[arg-type]
    except (SyntaxError, TypeError, ValueError) as exc:
        event(f"raised {type(exc).__name__}")
        return
    event("constructed")
    t = trace(ws)
    assert ws.readyState == WebSocket.CONNECTING
    # With no network, every connection fails; the story stays well formed.
    with pytest.raises(InvalidStateError):
        ws.send("too early")
    await t.wait_closed()
    check_story(t)
    assert "open" not in t.types


async def test_nursery_must_be_a_nursery() -> None:
    with pytest.raises(TypeError):
        WebSocket("ws://127.0.0.1:1/", nursery=1)  # type: ignore[arg-type]


async def test_huge_timer_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        WebSocket("ws://127.0.0.1:1/", close_timeout=10**400)


async def test_fractional_max_message_size() -> None:
    with pytest.raises((TypeError, ValueError)):
        WebSocket("ws://127.0.0.1:1/", max_message_size=0.5)


@pytest.mark.parametrize(
    "keywords",
    [{"headers": {"X-A": "€"}}, {"headers": {"X-A": "a\x00b"}}, {"origin": "a\r\nb"}],
    ids=["not-latin-1", "nul", "crlf-origin"],
)
async def test_header_values_are_checked_by_the_constructor(keywords: dict[str, object]) -> None:
    async with serve() as server:
        with engine_errors() as errors:
            try:
                ws = WebSocket(server.url + "/", **keywords)  # type: ignore[arg-type]
            except ValueError:
                return
            t = trace(ws)
            await t.wait_closed()
        assert not errors, [r.getMessage() for r in errors]


# -- methods and attributes on an open socket ------------------------------------------


async def _async_raises(event: object) -> None:
    raise RuntimeError("an async listener failed")


def _raises(event: object) -> None:
    raise RuntimeError("a listener failed")


class _Handler:
    def handleEvent(self, event: object) -> None:
        pass


handlers = st.one_of(
    anything, st.sampled_from([_raises, _async_raises, print, _Handler(), lambda e: None])
)
data = st.one_of(
    anything,
    st.binary(max_size=100).map(bytearray),
    st.binary(max_size=100).map(memoryview),
    st.text(max_size=50),
)
codes = st.one_of(st.none(), st.integers(-5, 70_000), st.sampled_from([1000, 3000, 4999]), anything)
reasons = st.one_of(st.none(), st.text(max_size=130), anything)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), data),
        st.tuples(st.just("close"), codes, reasons),
        st.tuples(st.just("binaryType"), anything),
        st.tuples(
            st.just("handler"),
            st.sampled_from(["onopen", "onmessage", "onerror", "onclose"]),
            handlers,
        ),
        st.tuples(
            st.just("listen"), st.sampled_from(["message", "close", "x"]), handlers, anything
        ),
    ),
    max_size=8,
)
ALLOWED = {
    "send": (TypeError, InvalidStateError),
    "close": (TypeError, InvalidAccessError, SyntaxError),
    "binaryType": (),
    "handler": (),
    "listen": (TypeError,),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
async def test_methods_raise_only_documented_exceptions(ops: list[tuple[object, ...]]) -> None:
    with engine_errors() as errors:
        async with serve(Behavior(echo=True)) as server:
            ws = WebSocket(server.url + "/")
            t = trace(ws)
            await t.wait_open()
            # Ignored values warn (tests/test_warnings.py); the warnings are
            # recorded here, and must all be W3CWSWarning.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run_operations(ws, ops)
            assert {type(w.message) for w in caught} <= {W3CWSWarning}
            ws.close()
            await t.wait_closed()
    check_story(t)
    # Listener failures are reported on the w3cws logger; the engine stays quiet.
    assert not [r for r in errors if r.name == "w3cws.engine"]


def run_operations(ws: WebSocket, ops: list[tuple[object, ...]]) -> None:
    """Apply the operations; each may raise only what its documentation says."""
    for op in ops:
        kind = op[0]
        try:
            if kind == "send":
                ws.send(op[1])  # type: ignore[arg-type]
            elif kind == "close":
                ws.close(op[1], op[2])  # type: ignore[arg-type]
            elif kind == "binaryType":
                before = ws.binaryType
                ws.binaryType = op[1]  # type: ignore[assignment]
                assert ws.binaryType in (before, op[1])
            elif kind == "handler":
                setattr(ws, op[1], op[2])  # type: ignore[arg-type]
            else:
                ws.addEventListener(op[1], op[2], op[3])  # type: ignore[arg-type]
        except ALLOWED[kind]:  # type: ignore[misc]
            pass
