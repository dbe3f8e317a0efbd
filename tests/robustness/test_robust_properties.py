"""Property-based: any byte stream a server sends after a valid handshake.

Hypothesis builds a server script: messages (text or binary, fragmented,
compressed or not, with Pings between fragments), Pings, Pongs, a Close,
a known protocol error or raw noise, cut into chunks with pauses between
them, ending in a FIN, a RST or a held-open connection; the client may send
and may call ``close()`` along the way. Whatever the script, the checks are
the W3C ones: the trio run returns, nothing reaches user code, ``error`` at
most once and just before the one ``close``, ``readyState`` never goes back
and reaches CLOSED in bounded time, messages arrive whole, once, in order,
with their type, and no task or file descriptor is left behind.

How it runs: this is a *sync* test that calls ``trio.run`` itself for each
example, with a fresh ``MockClock``. (pytest-trio 0.8 also accepts ``@given``
on an ``async def`` test and gives each example its own ``trio.run``, as
test_robust_limits.py does, but its ``mock_clock`` fixture would be one
clock shared by every example.) Set ``W3CWS_PROPERTY_EXAMPLES`` to run more
than the default 60 examples, e.g. when hunting bugs after an engine change.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from w3cws import WebSocket
from w3cws._engine import limits

from ..websocket.conftest import accept_response, frame, raw_server, read_request, trace
from .hostile import (
    Fin,
    Hold,
    Hostile,
    Reset,
    Sleep,
    StateSampler,
    Step,
    check_story,
    engine_errors,
    open_fds,
    settle,
)

# -- the script ----------------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    data: str | bytes
    fragments: int
    compressed: bool
    ping_between: bool


@dataclass(frozen=True)
class Control:
    opcode: int
    payload: bytes


@dataclass(frozen=True)
class CloseFrame:
    code: int | None
    reason: str


@dataclass(frozen=True)
class Bad:
    """A frame the client must fail the connection on."""

    data: bytes


@dataclass(frozen=True)
class Noise:
    """Random bytes: may parse as anything."""

    data: bytes


Item = Msg | Control | CloseFrame | Bad | Noise

BAD_FRAMES = [
    frame(0x1, b"\xff\xfe"),
    frame(0x1, b"masked", mask=True),
    frame(0x3, b""),
    frame(0x1, b"x", rsv=2),
    frame(0x9, b"x" * 126),
    frame(0x0, b"orphan"),
    frame(0x8, b"\x03"),
    frame(0x8, (1005).to_bytes(2, "big")),
    frame(0x8, b"\x03\xe8\xff"),
]
CLOSE_CODES = [None, 1000, 1001, 1003, 1007, 1008, 1011, 1012, 1013, 1014, 3000, 4000, 4999]

payloads = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=200),
    st.integers(126, 70_000).map(lambda n: "ü" * (n // 2) if n % 2 else b"\x5a" * n),
)
items = st.one_of(
    st.builds(
        Msg,
        payloads,
        fragments=st.integers(1, 4),
        compressed=st.booleans(),
        ping_between=st.booleans(),
    ),
    st.builds(Control, st.sampled_from([0x9, 0xA]), st.binary(max_size=125)),
    st.builds(CloseFrame, st.sampled_from(CLOSE_CODES), st.text(max_size=20)),
    st.builds(Bad, st.sampled_from(BAD_FRAMES)),
    st.builds(Noise, st.binary(min_size=1, max_size=40)),
)


@dataclass
class Script:
    items: list[Item]
    deflate: bool
    cuts: list[int]
    pauses: list[float]
    ending: str  # "fin", "rst", "hold" (FIN at the client's Close), "silent"
    client_sends: list[str | bytes]
    close_after: int | None  # call close() after this many messages
    compressor: zlib._Compress = field(init=False, repr=False)

    def encode(self, item: Item) -> bytes:
        if isinstance(item, Msg):
            text = isinstance(item.data, str)
            raw = item.data.encode() if isinstance(item.data, str) else item.data
            rsv = 0
            if item.compressed and self.deflate:
                raw = self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                raw, rsv = raw[:-4], 4
            n = item.fragments
            size = -(-len(raw) // n) if raw else 0
            parts = [raw[i * size : (i + 1) * size] for i in range(n)] if size else [b""] * n
            out = []
            for i, part in enumerate(parts):
                opcode = (0x1 if text else 0x2) if i == 0 else 0x0
                out.append(frame(opcode, part, fin=i == n - 1, rsv=rsv if i == 0 else 0))
                if item.ping_between and i < n - 1:
                    out.append(frame(0x9, b"between"))
            return b"".join(out)
        if isinstance(item, Control):
            return frame(item.opcode, item.payload)
        if isinstance(item, CloseFrame):
            body = b"" if item.code is None else item.code.to_bytes(2, "big")
            return frame(0x8, body + item.reason.encode() if body else b"")
        return item.data

    def steps(self) -> list[Step]:
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = b"".join(self.encode(item) for item in self.items)
        cuts = sorted({c % (len(data) + 1) for c in self.cuts} | {0, len(data)})
        steps: list[Step] = []
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            steps.append(data[a:b])
            if self.pauses:
                steps.append(Sleep(self.pauses[i % len(self.pauses)]))
        ending = {"fin": Fin(), "rst": Reset()}.get(self.ending, Hold())
        return [*steps, ending]

    def expected(self) -> tuple[list[str | bytes], Item | None]:
        """Messages before the first Close, error or noise; and that item."""
        messages: list[str | bytes] = []
        for item in self.items:
            if isinstance(item, Msg):
                messages.append(item.data)
            elif not isinstance(item, Control):
                return messages, item
        return messages, None


scripts = st.builds(
    Script,
    items=st.lists(items, max_size=8),
    deflate=st.booleans(),
    cuts=st.lists(st.integers(0, 1 << 17), max_size=6),
    pauses=st.lists(st.sampled_from([0.0, 0.001, 0.5, 3.0]), max_size=4),
    ending=st.sampled_from(["fin", "rst", "hold", "silent"]),
    client_sends=st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), max_size=3),
    close_after=st.one_of(st.none(), st.integers(0, 3)),
)


# -- one example ---------------------------------------------------------------------


@dataclass
class Outcome:
    events: list[tuple[object, ...]]
    closed_by_script: bool
    closed_late: bool


async def run_example(script: Script) -> Outcome:
    tasks = trio.lowlevel.current_statistics().tasks_living
    extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if script.deflate else b""
    server = Hostile(steps=script.steps(), extra=extra, fin_on_close=script.ending != "silent")
    late = False
    async with raw_server(server) as url:
        ws = WebSocket(url + "/")
        ws.binaryType = "arraybuffer"
        t = trace(ws)
        sampler = server.observe = StateSampler(ws)
        by_script = False
        count = 0

        def on_open(_: object) -> None:
            for data in script.client_sends:
                ws.send(data)
            maybe_close()

        def on_message(_: object) -> None:
            nonlocal count
            count += 1
            maybe_close()

        def maybe_close() -> None:
            nonlocal by_script
            if script.close_after is not None and count >= script.close_after and not by_script:
                by_script = True
                ws.close(4321, "enough")

        ws.onopen = on_open
        ws.onmessage = on_message
        with trio.fail_after(10 + sum(script.pauses) * 10):
            await server.played.wait()
        await settle()
        if ws.readyState != WebSocket.CLOSED:
            # The server is done and may hold TCP forever: the script closes,
            # and the closing timers must end it in bounded time.
            late = not by_script
            by_script = True
            ws.close()
        with trio.fail_after(limits.CLOSE_TIMEOUT + 2 * limits.TCP_CLOSE_TIMEOUT + 1):
            await t.closed.wait()
        sampler.check()
    await settle()
    check_story(t)
    assert trio.lowlevel.current_statistics().tasks_living == tasks
    return Outcome(t.events, by_script, late)


def check_outcome(script: Script, outcome: Outcome) -> None:
    events = outcome.events
    types = [e[0] for e in events]
    delivered = [e[2] for e in events if e[0] == "message"]
    expected, stop = script.expected()
    code, reason, clean = events[-1][2:]
    # Whole messages, once, in order, with their type: always a prefix of
    # what was sent before the first Close, error or noise.
    assert delivered[: len(expected)] == expected[: len(delivered)]
    for got, sent in zip(delivered, expected, strict=False):
        assert type(got) is type(sent)
    if "error" in types:
        assert isinstance(stop, Bad | Noise), stop
    early = outcome.closed_by_script and not outcome.closed_late
    if early or script.ending == "rst" or isinstance(stop, Noise):
        # The script's close() or a RST may cut the stream anywhere, and noise
        # may parse as anything: the checks above and check_story() hold.
        return
    # Everything the server sent reached the client.
    assert delivered == expected
    if isinstance(stop, CloseFrame):
        assert "error" not in types
        if stop.code is None:
            assert (code, reason) == (1005, "")
        else:
            assert (code, reason) == (stop.code, stop.reason)
        assert clean is True
    elif isinstance(stop, Bad):
        assert types[-2:] == ["error", "close"]
    else:
        assert "error" not in types
        assert (code, clean) == (1006, False)


def run_and_check(script: Script) -> Outcome:
    """One example: a fresh trio run on a MockClock, then every check."""
    fds = open_fds()
    clock = trio.testing.MockClock(autojump_threshold=0.005)
    with engine_errors() as errors:
        outcome = trio.run(partial(run_example, script), clock=clock)
    assert not errors, [r.getMessage() for r in errors]
    assert open_fds() == fds
    check_outcome(script, outcome)
    return outcome


def _script(items: list[Item], **kwargs: object) -> Script:
    fields: dict[str, object] = {
        "deflate": False,
        "cuts": [],
        "pauses": [],
        "ending": "fin",
        "client_sends": [],
        "close_after": None,
    }
    fields.update(kwargs)
    return Script(items, **fields)  # type: ignore[arg-type]


async def _close_in_onopen_with_the_server_close_in_one_read() -> None:
    """The 101 and the server's Close arrive together; the script closes in onopen."""

    async def handler(stream: trio.SocketStream) -> None:
        request = await read_request(stream)
        await stream.send_all(accept_response(request) + frame(0x8, b""))
        await Hostile(read_request=False)(stream)

    async with raw_server(handler) as url:
        ws = WebSocket(url + "/")
        t = trace(ws)
        ws.onopen = lambda _: ws.close()
        await t.wait_closed()
    assert t.events == [("open", 1), ("close", 3, 1005, "", True)]


def _repro(make: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    def run() -> None:
        with engine_errors() as errors:
            trio.run(make)
        assert not errors, [r.getMessage() for r in errors]

    return run


# Bugs the property found, kept as deterministic regression tests.
REGRESSIONS: dict[str, Callable[[], None]] = {
    # The script's Close and the echo of the server's Close were written in
    # one flush: wsproto refused the second Close.
    "close-in-onopen-and-server-close-in-one-read": _repro(
        _close_in_onopen_with_the_server_close_in_one_read
    ),
    # wsproto 1.3 reset its inflate state on a Ping between the fragments of
    # a compressed message (fixed in ChromiumDeflate).
    "ping-between-fragments-of-a-compressed-message": partial(
        run_and_check, _script([Msg("0", 2, True, True)], deflate=True)
    ),
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_regression(name: str) -> None:
    REGRESSIONS[name]()


@settings(
    max_examples=int(os.environ.get("W3CWS_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=scripts)
def test_any_server_stream_after_the_handshake(script: Script) -> None:
    outcome = run_and_check(script)
    stop = script.expected()[1]
    event(f"stop={type(stop).__name__} ending={script.ending}")
    event(f"story={'+'.join(dict.fromkeys(e[0] for e in outcome.events))}")
