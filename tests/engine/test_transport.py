"""TCPStream: the plain-TCP transport, over real loopback sockets."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from w3cws._engine.transport import TCPStream, describe_os_error, open_stream

from ..network.conftest import FailingResolver


@asynccontextmanager
async def connected_pair() -> AsyncIterator[tuple[TCPStream, trio.SocketStream]]:
    """Our stream to a trio server stream, over 127.0.0.1."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    stream = await open_stream(
        "127.0.0.1", listener.getsockname()[1], secure=False, ssl_context=None
    )
    assert isinstance(stream, TCPStream)
    peer, _ = await listener.accept()
    listener.close()
    server = trio.SocketStream(peer)
    try:
        yield stream, server
    finally:
        stream.close()
        await server.aclose()


async def test_bytes_both_ways_and_eof() -> None:
    async with connected_pair() as (ours, server):
        await ours.send_all(b"hello")
        assert await server.receive_some(100) == b"hello"
        await server.send_all(b"world")
        assert await ours.receive_some(100) == b"world"
        await server.send_eof()
        assert await ours.receive_some(100) == b""


async def test_a_big_write_waits_for_a_slow_reader() -> None:
    payload = os.urandom(16 * 1024 * 1024)  # more than the socket buffers hold
    received = bytearray()
    async with connected_pair() as (ours, server):

        async def slow_reader() -> None:
            while len(received) < len(payload):
                # Read only once the writer is stuck: the buffers are full
                # and it waits for the socket to become writable.
                await trio.testing.wait_all_tasks_blocked()
                received.extend(await server.receive_some(1 << 18))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_reader)
            with trio.fail_after(30):
                await ours.send_all(payload)
    assert received == payload


async def test_send_now_takes_what_fits_and_never_waits() -> None:
    async with connected_pair() as (ours, _server):
        chunk = bytes(1 << 20)
        taken = []
        for _ in range(512):  # the server reads nothing: the buffers fill up
            taken.append(ours.send_now(chunk))
            if taken[-1] == 0:
                break
        assert taken[-1] == 0, f"{sum(taken)} bytes went into the socket buffers"
        assert taken[0] > 0


async def test_close_wakes_a_waiting_reader() -> None:
    async with connected_pair() as (ours, _server):
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                errors: list[BaseException] = []

                async def read() -> None:
                    try:
                        await ours.receive_some(100)
                    except trio.ClosedResourceError as exc:
                        errors.append(exc)

                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                ours.close()
        assert len(errors) == 1
        with pytest.raises(OSError):
            await ours.send_all(b"after close")


async def test_refused_connect_raises_oserror() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        await open_stream("127.0.0.1", port, secure=False, ssl_context=None)


async def test_receive_is_a_checkpoint_even_with_data_waiting() -> None:
    async with connected_pair() as (ours, server):
        await server.send_all(b"ready")
        with trio.fail_after(5):
            await trio.lowlevel.wait_readable(ours._sock)  # the data is in our socket now
        with trio.CancelScope() as scope:
            scope.cancel()
            await ours.receive_some(100)
        assert scope.cancelled_caught
        assert await ours.receive_some(100) == b"ready"  # not lost


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_refused_connect_says_refused(host: str) -> None:
    # Over loopback the refusal is known right after connect(): the second
    # connect() that checks the outcome reports it (no wait for writability).
    # localhost is refused twice, on ::1 and then on 127.0.0.1.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError) as info:
        await open_stream(host, port, secure=False, ssl_context=None)
    assert info.value.errno == errno.ECONNREFUSED
    assert describe_os_error(info.value) == "connection refused"


def loopback_listener(family: socket.AddressFamily) -> socket.socket:
    """A listening socket on the loopback address of ``family``, or a skip."""
    listener = socket.socket(family)
    try:
        listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    except OSError:
        listener.close()
        pytest.skip("no IPv6 loopback on this machine")
    listener.listen()
    return listener


@pytest.mark.parametrize("family", [socket.AF_INET6, socket.AF_INET])
@pytest.mark.parametrize("name", ["localhost", "app.localhost", "localhost."])
async def test_localhost_names_reach_either_loopback_without_dns(
    family: socket.AddressFamily, name: str
) -> None:
    # RFC 6761 §6.3, as browsers do it: the name is loopback by definition.
    # No DNS here knows any name, and the server listens on one family only.
    previous = trio.socket.set_custom_hostname_resolver(FailingResolver())
    try:
        with loopback_listener(family) as listener:
            stream = await open_stream(
                name, listener.getsockname()[1], secure=False, ssl_context=None
            )
            assert isinstance(stream, TCPStream)
            peer, address = listener.accept()
            with peer:
                await stream.send_all(b"local")
                assert peer.recv(100) == b"local"
            stream.close()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    assert peer.family == family
    assert address[0] == ("::1" if family == socket.AF_INET6 else "127.0.0.1")


async def test_a_connect_still_in_progress_is_waited_for() -> None:
    # A full accept queue drops the SYN, so the connect stays in progress
    # until the kernel retries it (about 1 s later): the check after
    # connect() must not take "in progress" for "connected".
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        with socket.create_connection(address):  # fills the accept queue
            result: list[TCPStream] = []

            async def connect() -> None:
                stream = await open_stream(*address, secure=False, ssl_context=None)
                assert isinstance(stream, TCPStream)
                result.append(stream)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(connect)
                await trio.testing.wait_all_tasks_blocked()
                assert result == []
                listener.accept()[0].close()  # room for the retried SYN
            with trio.fail_after(10):
                peer, _ = await trio.to_thread.run_sync(listener.accept)
        with peer:
            await result[0].send_all(b"through")
            assert peer.recv(100) == b"through"
            result[0].close()


async def test_receive_now_never_waits_nor_yields() -> None:
    async with connected_pair() as (ours, server):

        def receive_now_in_a_cancelled_scope() -> bytes | None:
            # No checkpoint inside: the cancelled scope catches nothing.
            with trio.CancelScope() as scope:
                scope.cancel()
                data = ours.receive_now(100)
            assert not scope.cancelled_caught
            return data

        assert receive_now_in_a_cancelled_scope() is None  # nothing there: no wait
        await server.send_all(b"data")
        with trio.fail_after(5):
            await trio.lowlevel.wait_readable(ours._sock)
        assert receive_now_in_a_cancelled_scope() == b"data"
        await server.send_eof()
        with trio.fail_after(5):
            await trio.lowlevel.wait_readable(ours._sock)
        assert receive_now_in_a_cancelled_scope() == b""
