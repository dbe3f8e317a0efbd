"""The opening handshake's own request writer and response parser.

h11 (an independently written HTTP/1.1 implementation) is the oracle: it
must read our request as the GET we mean, and it must agree with our parser
on which response heads are well-formed and what their fields are.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

import h11
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from w3cws._engine import ConnectOptions
from w3cws._engine.codec import CODEC_ENV, DeflateParameters
from w3cws._engine.deflate import ChromiumDeflate
from w3cws._engine.fast_codec import FastCodec
from w3cws._engine.handshake import HandshakeFailed, OpeningHandshake, parse_response_head
from w3cws._engine.wsproto_codec import WsprotoCodec
from w3cws._url import parse_websocket_url

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake(url: str = "ws://127.0.0.1:8080/", **options: object) -> OpeningHandshake:
    return OpeningHandshake(parse_websocket_url(url), ConnectOptions(**options), 16384)  # type: ignore[arg-type]


def accept_head(hs: OpeningHandshake, extra: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    key = next(v for k, v in server_view(hs.request)[1] if k == b"sec-websocket-key")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept,
    ]
    return eol.join(lines) + eol + extra + eol


def server_view(request: bytes) -> tuple[h11.Request, list[tuple[bytes, bytes]]]:
    """The request as an h11 server reads it: the event and (lower-case) fields."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(request)
    event = server.next_event()
    assert isinstance(event, h11.Request)
    # No body, and an upgrade h11 recognises: it pauses with nothing left over.
    assert isinstance(server.next_event(), h11.EndOfMessage)
    assert server.next_event() is h11.PAUSED
    assert server.trailing_data == (b"", False)
    return event, [(bytes(k), bytes(v)) for k, v in event.headers]


# -- the request ----------------------------------------------------------------------


def test_request_is_the_rfc_6455_get() -> None:
    event, fields = server_view(handshake("ws://127.0.0.1:8080/chat?room=1").request)
    assert (event.method, event.target, event.http_version) == (b"GET", b"/chat?room=1", b"1.1")
    names = [k for k, _ in fields]
    assert names[0] == b"host"  # first, as browsers send it
    got = dict(fields)
    assert got[b"host"] == b"127.0.0.1:8080"
    assert got[b"upgrade"] == b"websocket"
    assert got[b"connection"] == b"Upgrade"
    assert got[b"sec-websocket-version"] == b"13"
    assert len(base64.b64decode(got[b"sec-websocket-key"], validate=True)) == 16
    assert got[b"pragma"] == got[b"cache-control"] == b"no-cache"
    assert got[b"sec-websocket-extensions"].startswith(b"permessage-deflate")
    assert len(names) == len(set(names))


def test_request_keys_differ() -> None:
    keys = {dict(server_view(handshake().request)[1])[b"sec-websocket-key"] for _ in range(50)}
    assert len(keys) == 50


def test_request_options() -> None:
    hs = handshake(
        "wss://[::1]/x?",
        protocols=("chat", "v2.chat"),
        headers=(("X-Latin", "café"), ("user-agent", "mine")),
        origin="https://page.test",
        deflate=False,
    )
    event, fields = server_view(hs.request)
    assert event.target == b"/x?"
    got = dict(fields)
    assert got[b"host"] == b"[::1]"
    assert got[b"sec-websocket-protocol"] == b"chat, v2.chat"
    assert got[b"origin"] == b"https://page.test"
    assert got[b"x-latin"] == "café".encode("latin-1")
    assert [v for k, v in fields if k == b"user-agent"] == [b"mine"]  # replaced, not doubled
    assert b"sec-websocket-extensions" not in got


def test_user_headers_leave_the_default_fields_in_place() -> None:
    # Without user headers the default fields are one prebuilt block; with
    # them, each default is kept or replaced: the same fields, same order.
    plain = server_view(handshake(origin="https://page.test").request)[1]
    extra = server_view(handshake(origin="https://page.test", headers=(("X-A", "1"),)).request)[1]
    assert [k for k, _ in extra] == [k for k, _ in plain] + [b"x-a"]
    replaced = server_view(handshake(headers=(("Pragma", "x"), ("Origin", "o"))).request)[1]
    assert [k for k, _ in replaced] == [
        k for k, _ in server_view(handshake().request)[1] if k != b"pragma"
    ] + [b"pragma", b"origin"]


# -- the response ---------------------------------------------------------------------


def test_response_opens_and_keeps_the_frames_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CODEC_ENV, raising=False)
    hs = handshake(deflate=False)
    frames = b"\x81\x02hi"
    opened = hs.receive(accept_head(hs) + frames)
    assert opened is not None
    assert (opened.protocol, opened.extensions) == ("", "")
    assert isinstance(opened.codec, FastCodec)
    assert opened.trailing == frames
    assert opened.codec.receive(opened.trailing) == ["hi"]


@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("env", ["wsproto", "", "fast"])
def test_codec_choice(monkeypatch: pytest.MonkeyPatch, env: str, deflate: bool) -> None:
    # Our own codec, permessage-deflate or not; W3CWS_CODEC=wsproto forces wsproto's.
    monkeypatch.setenv(CODEC_ENV, env)
    hs = handshake(deflate=deflate)
    extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""
    opened = hs.receive(accept_head(hs, extra) + b"\x81\x02hi")
    assert opened is not None
    assert isinstance(opened.codec, WsprotoCodec if env == "wsproto" else FastCodec)
    assert opened.codec.receive(opened.trailing) == ["hi"]


@pytest.mark.parametrize("env", ["wsproto", ""])
@pytest.mark.parametrize(
    ("response", "parameters"),
    [
        ("permessage-deflate", DeflateParameters()),
        (
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
            DeflateParameters(12, 12),
        ),
        # RFC 7692 §7.1.2 allows 8 bits, which zlib and wsproto serve with 9.
        (
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
            DeflateParameters(9, 9),
        ),
        (
            'permessage-deflate; client_max_window_bits="10"; server_no_context_takeover',
            DeflateParameters(10, 15, server_no_context_takeover=True),
        ),
        (
            "permessage-deflate;client_no_context_takeover",
            DeflateParameters(client_no_context_takeover=True),
        ),
    ],
)
def test_deflate_parameters_reach_the_codec(
    monkeypatch: pytest.MonkeyPatch, env: str, response: str, parameters: DeflateParameters
) -> None:
    monkeypatch.setenv(CODEC_ENV, env)
    hs = handshake()
    extra = f"Sec-WebSocket-Extensions: {response}\r\n".encode()
    compressor = zlib.compressobj(wbits=-parameters.server_max_window_bits)
    hello = compressor.compress(b"hello") + compressor.flush(zlib.Z_SYNC_FLUSH)
    opened = hs.receive(accept_head(hs, extra) + bytes((0xC1, len(hello) - 4)) + hello[:-4])
    assert opened is not None
    assert opened.extensions == response
    assert opened.codec.receive(opened.trailing) == ["hello"]
    assert isinstance(opened.codec, WsprotoCodec if env == "wsproto" else FastCodec)
    deflate = ChromiumDeflate()
    assert deflate.accept_response(response) is None
    assert deflate.parameters() == parameters


@pytest.mark.parametrize("cut", [1, 2, 3, 7])
def test_response_in_pieces(cut: int) -> None:
    hs = handshake(deflate=False)
    data = accept_head(hs)
    opened = None
    for i in range(0, len(data), cut):
        assert opened is None
        opened = hs.receive(data[i : i + cut])
    assert opened is not None


@pytest.mark.parametrize(
    "form",
    [
        b"HTTP/1.1 101 OK\r\nA: 1\r\nB:2 \r\na: 3\r\n",  # the usual form, read at once
        b"HTTP/1.1 101 OK\nA: 1\nB:2 \na: 3\n",  # bare LF: line by line
        b"HTTP/1.1 101 OK\r\nA: 1\nB:2 \r\na: 3\r\n",  # mixed line ends
        b"HTTP/1.1 101 OK\r\nA:\r\n 1\r\nB:2 \r\na: 3\r\n",  # folded
    ],
)
def test_every_form_of_a_head_reads_the_same(form: bytes) -> None:
    assert parse_response_head(form) == (101, {b"a": [b"1", b"3"], b"b": [b"2"]})


def test_bare_lf_and_folded_fields_are_read() -> None:
    hs = handshake(protocols=("chat",), deflate=False)
    extra = b"Sec-WebSocket-Protocol:\n chat\n"
    opened = hs.receive(accept_head(hs, extra, eol=b"\n"))
    assert opened is not None
    assert opened.protocol == "chat"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", "status 200"),
        (b"HTTP/1.1 101\r\nUpgrade websocket\r\n\r\n", "bad field line"),
        (b"HTTP/1.1 101\r\nUpgrade : websocket\r\n\r\n", "bad field line"),
        (b"HTTP/1.1 101\r\n folded first\r\n\r\n", "bad field line"),
        (b"HTTP/1.1 101\r\nX: a\x00b\r\n\r\n", "bad field line"),
        (b"HTTP/1.1 101\r\nX: a\rb\r\n\r\n", "bad field line"),
        (b"ICY 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 10 x\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 101\r\n\r\n", "no 'Upgrade: websocket'"),
    ],
)
def test_bad_responses_fail(response: bytes, message: str) -> None:
    with pytest.raises(HandshakeFailed, match=message):
        handshake().receive(response)


@pytest.mark.parametrize(
    ("upgrade", "connection", "opens"),
    [
        (b"Upgrade: websocket", b"Connection: Upgrade", True),
        (b"upgrade: WebSocket", b"connection: upgrade", True),
        (b"Upgrade: websocket", b"Connection: keep-alive, Upgrade", True),
        (b"Upgrade: websocket", b"Connection: keep-alive\r\nConnection: upgrade", True),
        (b"Upgrade: websocket", b"Connection: keep-alive", False),
        (b"Upgrade: websocket", b"Connection: Upgraded", False),
        (b"Upgrade: websocket\r\nUpgrade: websocket", b"Connection: Upgrade", False),
        (b"Upgrade: h2c", b"Connection: Upgrade", False),
    ],
)
def test_upgrade_and_connection_checks(upgrade: bytes, connection: bytes, opens: bool) -> None:
    # RFC 6455 §4.1 client checks 2-3: the plain form and every other spelling.
    hs = handshake(deflate=False)
    head = accept_head(hs).replace(b"Upgrade: websocket", upgrade)
    head = head.replace(b"Connection: Upgrade", connection)
    if opens:
        assert hs.receive(head) is not None
    else:
        with pytest.raises(HandshakeFailed, match="Upgrade"):
            hs.receive(head)


def test_eof_before_the_head_ends_fails() -> None:
    hs = handshake()
    assert hs.receive(b"HTTP/1.1 101 Switching") is None
    with pytest.raises(HandshakeFailed, match="closed the connection"):
        hs.receive(b"")


def test_head_size_limit_whole_and_incomplete() -> None:
    url = parse_websocket_url("ws://127.0.0.1/")
    big = b"HTTP/1.1 101 x\r\nX: " + b"y" * 100 + b"\r\n\r\n"
    with pytest.raises(HandshakeFailed, match="over max_handshake_size"):
        OpeningHandshake(url, ConnectOptions(), 64).receive(big)
    hs = OpeningHandshake(url, ConnectOptions(), 64)
    assert hs.receive(big[:60]) is None
    with pytest.raises(HandshakeFailed, match="over max_handshake_size"):
        hs.receive(big[60:70])


# -- agreement with h11 -------------------------------------------------------------

_TEXT = st.binary(max_size=6).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
_STATUS = st.one_of(
    st.sampled_from([b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 101", b"HTTP/1.0 404 x"]),
    st.builds(
        lambda v, code, sep, reason: b"HTTP/" + v + b" " + code + sep + reason,
        st.sampled_from([b"1.1", b"1.0", b"2", b"1.x"]),
        st.sampled_from([b"101", b"200", b"099", b"000", b"1010", b"10", b"abc"]),
        st.sampled_from([b" ", b"", b"  "]),
        _TEXT,
    ),
)
_NAME = st.one_of(
    st.sampled_from(
        [b"Upgrade", b"X-Test", b"sec-websocket-accept", b"Upgrade ", b" X", b"X\tY", b"X\x7f", b""]
    ),
    st.binary(min_size=0, max_size=4).filter(lambda b: b":" not in b and b"\n" not in b),
)
_FIELD = st.one_of(
    st.builds(
        lambda name, ows, value: name + b":" + ows + value,
        _NAME,
        st.sampled_from([b"", b" ", b"\t", b"  "]),
        _TEXT.map(lambda b: b.rstrip(b" \t")),
    ),
    # an obs-fold continuation line
    st.builds(
        lambda ws, text: ws + text.strip(b" \t"), st.sampled_from([b" ", b"\t"]), _TEXT
    ).filter(lambda line: line.strip(b" \t")),
)


def h11_result(head: bytes) -> object:
    client = h11.Connection(h11.CLIENT)
    request = [(b"Host", b"x"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")]
    client.send(h11.Request(method="GET", target=b"/", headers=request))
    client.receive_data(head)
    try:
        event = client.next_event()
    except h11.RemoteProtocolError:
        return "malformed"
    assert isinstance(event, h11.InformationalResponse | h11.Response)
    fields: dict[bytes, list[bytes]] = {}
    for name, value in event.headers:
        fields.setdefault(bytes(name).lower(), []).append(bytes(value))
    return event.status_code, fields


def our_result(head: bytes) -> object:
    try:
        return parse_response_head(head[:-2])  # up to the last field line's end
    except HandshakeFailed:
        return "malformed"


def _folds_after_trimmed_lines(lines: list[bytes]) -> list[bytes]:
    """Drop the whitespace that ends a line followed by an obs-fold line: RFC
    9112 §5.2 lets it become part of the one space we join with, where h11
    keeps it; the two readings differ only there."""
    following = [*lines[1:], b""]
    return [
        line.rstrip(b" \t") if after[:1] in (b" ", b"\t") else line
        for line, after in zip(lines, following, strict=True)
    ]


@settings(max_examples=1500, deadline=None)
@given(
    _STATUS,
    st.lists(_FIELD.filter(lambda f: not f.lower().startswith((b"content-", b"transfer-")))),
)
@example(status=b"HTTP/1.1 101 Switching Protocols", fields=[b"Upgrade:", b" X: ", b" \x01"])
def test_parser_agrees_with_h11(status: bytes, fields: list[bytes]) -> None:
    # Framing fields are left out: a 101 has no content, so we ignore them
    # where h11 validates them.
    lines = _folds_after_trimmed_lines([status, *fields])
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    assert our_result(head) == h11_result(head)
