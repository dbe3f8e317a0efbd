"""The URL steps of the WebSocket constructor (WS §3.1, constructor steps 1-5).

Parsing follows the WHATWG URL Standard through ``ada_url``. Python has no
document, so there is no "API base URL": a relative URL needs an explicit
``base_url`` (the URL of the page a ported script ran on).
"""

from __future__ import annotations

from dataclasses import dataclass

import ada_url

from ._dom.dom_exception import SyntaxError
from ._dom.webidl import usv_string

__all__ = ["WebSocketURL", "is_localhost", "parse_websocket_url"]

# Default ports of the two WebSocket schemes (URL Standard "special scheme").
_DEFAULT_PORTS: dict[str, int] = {"ws": 80, "wss": 443}

# WS §3.1 constructor step 3: the HTTP schemes map onto the WebSocket ones.
_HTTP_TO_WS: dict[str, str] = {"http": "ws", "https": "wss"}

# Any absolute URL: only used to tell "relative input" from "unparsable input".
_PROBE_BASE = "ws://base.invalid/"

# Parsed URLs by (url, base_url). The steps are a pure function of the two
# strings and the result is immutable; scripts open the same few URLs again
# and again, and a look-up here costs far less than running the URL parser
# (whose code is rarely still in the CPU caches by the next connection).
_parsed: dict[tuple[str, str | None], WebSocketURL] = {}
_PARSED_MAX = 64


@dataclass(frozen=True, slots=True)
class WebSocketURL:
    """A parsed ws:/wss: URL with the pieces the handshake needs.

    Attributes:
        href: The serialized URL; what ``WebSocket.url`` returns.
        secure: True for ``wss``.
        host: Domain or IP address to connect to; an IPv6 address has no brackets.
        port: Effective port: the URL's own, else 80 (ws) or 443 (wss).
        explicit_port: The URL's port, or None when absent or the scheme default
            (the WHATWG parser drops a default port). Fetch's bad-port check
            looks at this one only.
        resource_name: Path plus query (with its ``?``), never empty.
        host_header: Value of the ``Host`` header: the URL's host (IPv6 in
            brackets) with ``:port`` only when the port is explicit.
        origin: Serialization of the URL's origin, e.g. ``"ws://h:8080"``.
        userinfo: ``user:password`` as in the URL (percent-encoded), or "";
            the handshake answers a ``401`` with it (HTTP authentication).
    """

    href: str
    secure: bool
    host: str
    port: int
    explicit_port: int | None
    resource_name: str
    host_header: str
    origin: str
    userinfo: str = ""


def parse_websocket_url(url: str, base_url: str | None = None) -> WebSocketURL:
    """Run the URL steps of ``new WebSocket(url)``.

    Args:
        url: The URL as given to the constructor. Only ``str`` is accepted;
            unlike JS, no other object is stringified.
        base_url: Absolute URL that plays the page's URL when ``url`` is
            relative; None means there is none.

    Returns:
        The parsed URL, with ``http``/``https`` already rewritten to ``ws``/``wss``.

    Raises:
        TypeError: ``url`` or ``base_url`` is not a ``str``.
        SyntaxError: (w3cws's DOMException) the URL is unparsable, relative
            without a base, of another scheme, or has a fragment. Bad ports
            are not checked here: they fail the connection later.
    """
    if not isinstance(url, str):
        raise TypeError(f"The WebSocket URL must be a str, not {type(url).__name__}.")
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str or None, not {type(base_url).__name__}.")
    # Exact str only: a subclass may compare or hash in its own way.
    cacheable = type(url) is str and (base_url is None or type(base_url) is str)
    if cacheable:
        key = (url, base_url)
        found = _parsed.get(key)
        if found is not None:
            return found
    parsed = _parse(url, base_url)
    if cacheable:
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[key] = parsed
    return parsed


def _parse(url: str, base_url: str | None) -> WebSocketURL:
    """The URL steps proper, for :func:`parse_websocket_url`."""
    # WebIDL: both arrive as USVStrings (lone surrogates -> U+FFFD).
    url = usv_string(url)
    if base_url is not None:
        base_url = usv_string(base_url)

    # WS §3.1 constructor steps 1-2: parse against the base URL.
    try:
        parsed = ada_url.URL(url, base_url)
    except ValueError:
        raise _parse_error(url, base_url) from None

    # Everything below reads the serialization: one call into ada instead of
    # one per component. A special URL serializes as
    # scheme "://" [userinfo "@"] host [":" port] path ["?" query] ["#" fragment],
    # with "@", "/", "?" and "#" percent-encoded wherever they are not delimiters.
    href = parsed.href
    scheme, _, rest = href.partition(":")

    # Step 3: http -> ws, https -> wss: only the scheme changes; both have
    # the same default port, so an elided port stays elided.
    if scheme in _HTTP_TO_WS:
        scheme = _HTTP_TO_WS[scheme]
        href = scheme + ":" + rest

    # Step 4: only ws and wss are left.
    if scheme not in _DEFAULT_PORTS:
        raise SyntaxError(
            f"The URL's scheme must be 'ws', 'wss', 'http' or 'https'; {scheme!r} is not allowed."
        )

    # Step 5: no fragment, not even an empty one ("#" can only be its delimiter).
    if "#" in href:
        fragment = href[href.index("#") :]
        raise SyntaxError(
            f"The URL must not have a fragment, but {href!r} ends in {fragment!r}; "
            "remove the '#' and what follows it."
        )

    authority, _, path_and_query = rest[2:].partition("/")
    host_and_port = authority.rpartition("@")[2]
    if host_and_port.startswith("["):
        # An IPv6 address: connect to it without the brackets.
        hostname, _, port = host_and_port[1:].partition("]")
        port = port[1:]
    else:
        hostname, _, port = host_and_port.partition(":")
    explicit_port = int(port) if port else None
    return WebSocketURL(
        href=href,
        secure=scheme == "wss",
        host=hostname,
        port=_DEFAULT_PORTS[scheme] if explicit_port is None else explicit_port,
        explicit_port=explicit_port,
        # RFC 6455 §3 resource-name: path plus "?query", as Fetch sends the
        # serialized path and query (so an empty query keeps its "?").
        resource_name="/" + path_and_query,
        host_header=host_and_port,
        # The tuple origin of a ws/wss URL: scheme, host and non-default port.
        origin=scheme + "://" + host_and_port,
        userinfo=authority.rpartition("@")[0],
    )


def _parse_error(url: str, base_url: str | None) -> SyntaxError:
    """Build the SyntaxError for a failed parse, saying which input was at fault."""
    if base_url is not None and not ada_url.URL.can_parse(base_url):
        return SyntaxError(f"base_url {base_url!r} is not a valid absolute URL.")
    if base_url is None and ada_url.URL.can_parse(url, _PROBE_BASE):
        return SyntaxError(
            f"{url!r} is a relative URL and there is no base URL to resolve it against; "
            "pass an absolute ws://, wss://, http:// or https:// URL, "
            "or the page's URL as base_url=."
        )
    where = "" if base_url is None else f" against base_url {base_url!r}"
    return SyntaxError(
        f"{url!r} could not be parsed as a URL{where}. Check the host (no spaces or "
        "other forbidden characters, not empty) and the port (digits only, at most 65535)."
    )


def is_localhost(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a name under ``.localhost``.

    Such names are loopback by definition (RFC 6761 §6.3): browsers answer
    them with the loopback addresses themselves and never ask DNS.
    """
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")
