"""The opening handshake, client side (RFC 6455 §4.1, WS §2.2).

wsproto's own client handshake accepts a malformed permessage-deflate answer
and hides the raw extension header that ``ws.extensions`` must show, so the
request and the response checks live here; a frame codec
(:mod:`w3cws._engine.codec`) takes over once the handshake has succeeded.

The exchange is one fixed GET request and one response head, so both are
done here directly rather than through h11's general HTTP/1.1 state machine,
which cost more than the rest of the handshake together. The response parser
follows RFC 9112 (status line, field lines, obsolete line folding, bare LF
line ends) and rejects what h11 rejects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from w3cws._checks import TOKEN_PATTERN
from w3cws._engine import limits
from w3cws._engine.codec import FrameCodec, wsproto_codec_forced
from w3cws._engine.deflate import ChromiumDeflate
from w3cws._engine.fast_codec import FastCodec
from w3cws._engine.interfaces import ConnectOptions
from w3cws._engine.wsproto_codec import WsprotoCodec
from w3cws._url import WebSocketURL

if TYPE_CHECKING:
    from w3cws._engine.diagnostics import Recorder

__all__ = ["AuthenticationRequired", "HandshakeFailed", "Opened", "OpeningHandshake"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_USER_AGENT = b"w3cws (Python; trio; wsproto)"

# RFC 9112 §2.1-2.2: the head ends at the first empty line; a recipient may
# take a bare LF as a line end.
_HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
# (the SP before an empty reason is often left out, and tolerated). Text in
# the reason and in field values: anything but NUL and line-breaking
# whitespace, as lenient as h11 and browsers are with real servers.
_STATUS_LINE = re.compile(rb"HTTP/[0-9]\.[0-9] ([1-9][0-9]{2})(?: [^\x00\n\r\x0b\x0c]*)?")
# RFC 9112 §5: field-name ":" OWS field-value OWS; the name is a token, with
# no whitespace before the colon.
_FIELD_LINE = re.compile(b"(" + TOKEN_PATTERN.encode() + rb"):([^\x00\n\r\x0b\x0c]*)")
# Every field line at once, in the usual form: CRLF line ends and no
# obsolete line folding (a folded line starts with whitespace, never a token).
_FIELD_LINES = re.compile(b"(?:" + TOKEN_PATTERN.encode() + rb":[^\x00\n\r\x0b\x0c]*\r\n)*")
_OWS = b" \t"


def _field_lines(fields: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``fields`` as request lines, each after its CRLF."""
    return b"".join(b"\r\n" + name + b": " + value for name, value in fields)


# The request's fields that never change, around the key (RFC 6455 §4.1);
# Pragma and Cache-Control are what Fetch adds for cache mode "no-store"
# (WS §2.2). Only User-Agent, Pragma and Cache-Control may be replaced by
# a user header (the constructor keeps the others out of reach), so these
# are joined once, here.
_BEFORE_KEY_FIELDS = ((b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"))
_AFTER_KEY_FIELDS = (
    (b"Sec-WebSocket-Version", b"13"),
    (b"Pragma", b"no-cache"),
    (b"Cache-Control", b"no-cache"),
    (b"User-Agent", _USER_AGENT),
)
_BEFORE_KEY = _field_lines(_BEFORE_KEY_FIELDS) + b"\r\nSec-WebSocket-Key: "
_AFTER_KEY = _field_lines(_AFTER_KEY_FIELDS)


class Stream(Protocol):
    """What the handshake needs of a stream: trio's two stream calls."""

    async def send_all(self, data: bytes) -> None:
        """Write all of ``data``."""

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Up to ``max_bytes`` bytes; b"" at EOF."""


def basic_credentials(username: str, password: str) -> bytes:
    """``Basic`` credentials (RFC 7617), in UTF-8 as browsers send them."""
    return b"Basic " + base64.b64encode(f"{username}:{password}".encode())


class HandshakeFailed(Exception):
    """The response does not establish a WebSocket connection (fail it)."""


class AuthenticationRequired(HandshakeFailed):
    """A ``401`` with a ``Basic`` challenge that the URL's credentials can answer.

    Attributes:
        authorization: the ``Authorization`` value for the one new request.
    """

    def __init__(self, message: str, authorization: bytes) -> None:
        super().__init__(message)
        self.authorization = authorization


@dataclass(slots=True)
class Opened:
    """The result of a successful handshake."""

    protocol: str
    extensions: str
    #: The frame codec for the negotiated extensions.
    codec: FrameCodec
    #: What came right after the response head: the first frames.
    trailing: bytes


def _split_tokens(values: Sequence[bytes]) -> list[str]:
    return [p.strip() for v in values for p in v.decode("latin-1").split(",") if p.strip()]


def parse_response_head(head: bytes) -> tuple[int, dict[bytes, list[bytes]]]:
    """The status code and the fields (lower-case names) of a response head.

    ``head`` runs up to and including the line end before the empty line.

    Raises:
        HandshakeFailed: the head is not a well-formed HTTP/1.x response.
    """
    status_line, _, rest = head.partition(b"\r\n")
    if b"\n" not in status_line and _FIELD_LINES.fullmatch(rest) is not None:
        # The usual form, checked as a whole: split it without more checks.
        status = _STATUS_LINE.fullmatch(status_line)
        if status is None:
            raise HandshakeFailed(f"malformed HTTP response: bad status line {status_line[:80]!r}")
        fields: dict[bytes, list[bytes]] = {}
        for line in rest.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            fields.setdefault(name.lower(), []).append(value.strip(_OWS))
        return int(status[1]), fields
    lines = _LINE_END.split(head)
    lines.pop()  # what follows the last line end: nothing
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        raise HandshakeFailed(f"malformed HTTP response: bad status line {lines[0][:80]!r}")
    fields = {}
    last: list[bytes] | None = None
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2 obsolete line folding: one more piece of the
            # previous value, joined with a space.
            if last is None or _FIELD_LINE.fullmatch(b"x:" + line) is None:
                raise HandshakeFailed(f"malformed HTTP response: bad field line {line[:80]!r}")
            last[-1] = (last[-1] + b" " + line.strip(_OWS)).strip(_OWS)
            continue
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            raise HandshakeFailed(f"malformed HTTP response: bad field line {line[:80]!r}")
        last = fields.setdefault(field[1].lower(), [])
        last.append(field[2].strip(_OWS))
    return int(status[1]), fields


class OpeningHandshake:
    """Build the request, then check the response step by step.

    Args:
        url: the WebSocket URL.
        options: protocols, headers, origin, cookies and whether to offer deflate.
        max_response_size: bound on the response head, in bytes.
        authorization: an ``Authorization`` value (the answer to a 401).
        recorder: where the request and response heads are traced, if anywhere.
    """

    def __init__(
        self,
        url: WebSocketURL,
        options: ConnectOptions,
        max_response_size: int,
        authorization: bytes | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self._url = url
        self._options = options
        self._max_response_size = max_response_size
        self._buffer = bytearray()
        self._key = binascii.b2a_base64(os.urandom(16), newline=False)
        self._authorization = authorization
        self._recorder = recorder
        self.request = self._build_request(url, options)

    async def exchange(self, stream: Stream) -> Opened:
        """Send the request on ``stream`` and read the response up to its end.

        Raises:
            HandshakeFailed: any reason the handshake does not succeed.
            AuthenticationRequired: a 401 to answer with the URL's credentials.
        """
        if self._recorder is not None:
            self._recorder.request(self.request)
        await stream.send_all(self.request)
        while True:
            opened = self.receive(await stream.receive_some(limits.RECEIVE_SIZE))
            if opened is not None:
                return opened

    def _build_request(self, url: WebSocketURL, options: ConnectOptions) -> bytes:
        """The GET request of RFC 6455 §4.1 with Fetch's additions (WS §2.2).

        Every piece was checked before: the URL parser percent-encodes the
        path and query to visible ASCII, protocols are tokens, and the
        constructor checked header names (tokens) and values (no CR, LF, NUL).
        """
        start = b"GET " + url.resource_name.encode("ascii") + b" HTTP/1.1\r\nHost: "
        start += url.host_header.encode("ascii")
        headers: list[tuple[bytes, bytes]] = []
        if options.protocols:
            # One header, values joined by ", " in the given order (WS §2.2 step 5).
            headers.append((b"Sec-WebSocket-Protocol", ", ".join(options.protocols).encode()))
        if options.deflate:
            headers.append(
                (b"Sec-WebSocket-Extensions", b"permessage-deflate; " + ChromiumDeflate.OFFER)
            )
        if options.origin is not None:
            headers.append((b"Origin", options.origin.encode("latin-1")))
        if options.cookies is not None:
            # Imported here: http.cookiejar brings urllib.request along, a
            # cost only sockets with cookies= should pay.
            from w3cws._engine.cookies import cookie_header

            cookie = cookie_header(options.cookies, url)
            if cookie is not None:
                headers.append((b"Cookie", cookie))
        if self._authorization is not None:
            headers.append((b"Authorization", self._authorization))
        if not options.headers:
            fixed = _BEFORE_KEY + self._key + _AFTER_KEY
        else:
            # A user header replaces a default one of the same name, and
            # comes last with the other user headers.
            user = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in options.headers]
            overridden = {k.lower() for k, _ in user}
            defaults = [*_BEFORE_KEY_FIELDS, (b"Sec-WebSocket-Key", self._key), *_AFTER_KEY_FIELDS]
            fixed = _field_lines(f for f in defaults if f[0].lower() not in overridden)
            headers = [h for h in headers if h[0].lower() not in overridden] + user
        return start + fixed + _field_lines(headers) + b"\r\n\r\n"

    def receive(self, data: bytes | bytearray) -> Opened | None:
        """Feed response bytes (b"" at EOF); the result once the head is complete.

        Raises:
            HandshakeFailed: any reason the handshake does not succeed.
        """
        if not data:
            raise HandshakeFailed("the server closed the connection during the handshake")
        buffer = self._buffer
        searched = max(0, len(buffer) - 2)
        buffer += data
        end = _HEAD_END.search(buffer, searched)
        if end is None:
            if len(buffer) > self._max_response_size:
                raise HandshakeFailed(
                    f"the response head is over max_handshake_size "
                    f"({self._max_response_size} bytes)"
                )
            return None
        head_size = end.end()
        if head_size > self._max_response_size:
            raise HandshakeFailed(
                f"the response head is {head_size} bytes, over max_handshake_size"
            )
        status, fields = parse_response_head(bytes(buffer[: end.start() + 1]))
        if self._recorder is not None:
            self._recorder.response(status, fields)
        if status == 401:
            self._check_authentication(fields.get(b"www-authenticate", []))
        # WS §2.2 step 11 / RFC 6455 §4.1: anything but 101 (redirects included,
        # redirect mode "error") fails.
        if status != 101:
            raise HandshakeFailed(f"the server answered with HTTP status {status}")
        if self._options.cookies is not None:
            # Fetch "HTTP-network fetch": the response's Set-Cookie goes to the jar.
            from w3cws._engine.cookies import store_cookies

            store_cookies(self._options.cookies, self._url, fields.get(b"set-cookie", []))
        # What came after the head are the first frames.
        return self._check(fields, bytes(buffer[head_size:]))

    def _check_authentication(self, challenges: list[bytes]) -> None:
        """Fetch "HTTP-network-or-cache fetch", the 401 step, as browsers do it.

        The URL's credentials are not sent with the first request; a 401
        whose challenge is ``Basic`` is answered once with them, in a new
        request. Without credentials, or after that one answer, a 401 fails.

        Raises:
            AuthenticationRequired: a new request should answer the challenge.
        """
        userinfo = self._url.userinfo
        basic = any(c.strip().lower().startswith(b"basic") for c in challenges)
        if self._authorization is not None or not userinfo or not basic:
            return
        user, _, password = userinfo.partition(":")
        raise AuthenticationRequired(
            "the server asked for HTTP authentication (401)",
            basic_credentials(unquote(user), unquote(password)),
        )

    def _check(self, fields: dict[bytes, list[bytes]], trailing: bytes) -> Opened:
        # RFC 6455 §4.1, client checks 2-4.
        upgrade = fields.get(b"upgrade")
        if upgrade is None or len(upgrade) != 1 or upgrade[0].lower() != b"websocket":
            raise HandshakeFailed("the response has no 'Upgrade: websocket'")
        connection = fields.get(b"connection")
        if connection != [b"Upgrade"] and "upgrade" not in (
            t.lower() for t in _split_tokens(connection or [])
        ):
            raise HandshakeFailed("the response has no 'Connection: Upgrade'")
        expected = binascii.b2a_base64(hashlib.sha1(self._key + _GUID).digest(), newline=False)
        if fields.get(b"sec-websocket-accept") != [expected]:
            raise HandshakeFailed("wrong Sec-WebSocket-Accept")
        protocol = self._check_protocol(fields.get(b"sec-websocket-protocol"))
        selected = fields.get(b"sec-websocket-extensions")
        extensions, deflate = ("", None) if selected is None else self._check_extensions(selected)
        size = self._options.max_message_size
        codec: FrameCodec
        if wsproto_codec_forced():
            codec = WsprotoCodec(size, deflate)
        else:
            # Our own codec does the frame work, permessage-deflate included.
            codec = FastCodec(size, deflate.parameters() if deflate else None)
        return Opened(protocol, extensions, codec, trailing)

    def _check_protocol(self, values: list[bytes] | None) -> str:
        offered = self._options.protocols
        if values is None:
            # WS §2.2 step 10 (a WHATWG addition): protocols were requested
            # but the server selected none -> fail.
            if offered:
                raise HandshakeFailed("protocols were requested but the server selected none")
            return ""
        value = b",".join(values).decode("latin-1").strip()
        # RFC 6455 §4.1 check 6: only a value the client offered.
        if value not in offered:
            raise HandshakeFailed(f"the server selected a protocol that was not offered: {value!r}")
        return value

    def _check_extensions(self, values: list[bytes]) -> tuple[str, ChromiumDeflate | None]:
        elements = _split_tokens(values)
        if not elements:
            return "", None
        deflate = ChromiumDeflate()
        for element in elements:
            name = element.split(";", 1)[0].strip()
            # RFC 6455 §4.1 check 5: only extensions that were offered.
            if name != "permessage-deflate" or not self._options.deflate:
                raise HandshakeFailed(
                    f"the server selected an extension that was not offered: {name!r}"
                )
            error = deflate.accept_response(element)
            if error:
                raise HandshakeFailed(error)
        return ", ".join(elements), deflate
