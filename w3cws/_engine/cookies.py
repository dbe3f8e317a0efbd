"""Cookies for the opening handshake, from and into an ``http.cookiejar.CookieJar``.

A browser sends with the WebSocket request the cookies it would send to
the URL's http(s) equivalent (Fetch, "HTTP-network-or-cache fetch": the
``Cookie`` header; ``ws`` is treated as ``http``, ``wss`` as ``https``, so
``Secure`` cookies go only over ``wss``), and stores what ``Set-Cookie``
says in the response. The jar's own policy decides which cookies match.
"""

from __future__ import annotations

import email.message
import urllib.request
from collections.abc import Sequence
from http.client import HTTPResponse
from http.cookiejar import CookieJar
from typing import cast

from w3cws._url import WebSocketURL

__all__ = ["cookie_header", "store_cookies"]


def _http_request(url: WebSocketURL) -> urllib.request.Request:
    """A request for the URL's http(s) equivalent, without its credentials."""
    scheme = "https" if url.secure else "http"
    return urllib.request.Request(f"{scheme}://{url.host_header}{url.resource_name}")


def cookie_header(jar: CookieJar, url: WebSocketURL) -> bytes | None:
    """The ``Cookie`` header value the jar has for ``url``, or None for none."""
    request = _http_request(url)
    jar.add_cookie_header(request)
    value = request.get_header("Cookie")
    return value.encode("latin-1") if value else None


class _Response:
    """What ``CookieJar.extract_cookies`` reads of a response: its header fields."""

    def __init__(self, set_cookies: Sequence[bytes]) -> None:
        self._fields = email.message.Message()
        for value in set_cookies:
            self._fields["Set-Cookie"] = value.decode("latin-1")

    def info(self) -> email.message.Message:
        return self._fields


def store_cookies(jar: CookieJar, url: WebSocketURL, set_cookies: Sequence[bytes]) -> None:
    """Store the response's ``Set-Cookie`` values in the jar, as its policy allows."""
    if set_cookies:
        # The jar reads nothing of a response but ``info()``: _Response has that.
        response = cast(HTTPResponse, _Response(set_cookies))
        jar.extract_cookies(response, _http_request(url))
