"""The constructor's keyword-only extras: bad values raise before any I/O."""

from __future__ import annotations

import pytest

from w3cws import SyntaxError as DOMSyntaxError
from w3cws import WebSocket

URL = "ws://127.0.0.1:1/"  # a blocked port: nothing would connect anyway


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"origin": "http://a\r\nX-Injected: 1"}, ValueError),
        ({"origin": "http://€.test"}, ValueError),
        ({"origin": 42}, TypeError),
        ({"headers": {"X-Euro": "€"}}, ValueError),
        ({"headers": {"X-Bad": "a\nb"}}, ValueError),
        ({"headers": {"X-Nul": "a\0b"}}, ValueError),
        ({"headers": {"Sec-WebSocket-Key": "x"}}, ValueError),
        ({"headers": {"Host": "elsewhere"}}, ValueError),
        ({"headers": {"Bad Name": "x"}}, ValueError),
        ({"headers": {"X": 1}}, TypeError),
        ({"ssl_context": "yes"}, TypeError),
        ({"max_message_size": 0}, ValueError),
        ({"close_timeout": -1}, ValueError),
        ({"open_timeout": True}, ValueError),
    ],
)
async def test_bad_extras_raise(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        WebSocket(URL, **kwargs)  # type: ignore[arg-type]


async def test_url_errors_come_before_extras() -> None:
    with pytest.raises(DOMSyntaxError):
        WebSocket("ftp://h/", origin=42)  # type: ignore[arg-type]


async def test_good_extras_are_accepted() -> None:
    ws = WebSocket(
        URL,
        headers=[("X-One", "1"), ("X-Latin", "café")],
        origin="https://page.test",
        deflate=False,
        max_message_size=10,
        close_timeout=1,
        tcp_close_timeout=0.5,
        open_timeout=3.5,
    )
    assert ws.readyState == WebSocket.CONNECTING
    ws.close()
