"""Test helpers: a real WebSocket server on loopback with scripted behaviours.

``async with serve(Behavior(...)) as server`` runs the server inside a trio
task; ``with ServerThread(...) as server`` runs it on a thread for code that
does not run trio. Each accepted connection gets a :class:`ConnectionRecord`
in ``server.connections``. The pytest fixtures live in
:mod:`w3cws.testing.pytest_plugin`; how the server works is described in
:mod:`w3cws.testing._server`.

URL mini-language
-----------------
So that tests written in other languages, and the ``w3cws serve`` command, can
pick a behaviour without Python, the query string of the request may override
the behaviour chosen for its path (``Behavior(query_overrides=False)`` turns
this off, for tests that need an arbitrary query string). Values are
percent-decoded; parsing is strict: an unknown key, a repeated key that may
appear only once, or a bad value rejects the handshake with HTTP 400, the
message as body and in ``record.error``.

Actions, run in the order they appear; if any is given they replace
``on_open``:

========================  ======================================================
``send=TEXT``             send a text message (repeatable)
``binary=TEXT``           send the UTF-8 bytes of TEXT as a binary message
                          (repeatable)
``ping=TEXT``             send a Ping with the UTF-8 bytes of TEXT (repeatable)
``delay=SECONDS``         wait (repeatable)
``close=CODE``            send a Close frame with CODE (0-65535); ``close=``
                          sends an empty Close body
``reason=TEXT``           the reason for ``close`` (needs a code)
``drop=1``                close TCP abruptly, no Close frame
``stall=1``               stop reading and answering, keep TCP open
========================  ======================================================

Settings (each at most once), named after the :class:`Behavior` fields:

==================================  ============================================
``reject=STATUS``                   reject the handshake with STATUS (200-599)
``subprotocol=NAME``                send NAME as the selected subprotocol;
                                    ``subprotocol=`` sends none
``deflate=0|1``                     decline/accept permessage-deflate
``echo=0|1``                        echo received messages or not
``handshake_delay=SECONDS``         wait before answering the handshake
``on_close=echo|stall|drop``        how to answer the client's Close
``keep_tcp_open_after_close=0|1``   leave TCP open after the close handshake
==================================  ============================================

Example: ``/chat?send=hello&send=world&close=4000&reason=bye``.
"""

from w3cws.testing._server import (
    Action,
    Behavior,
    Close,
    ConnectionRecord,
    Delay,
    Drop,
    Ping,
    Send,
    SendFragments,
    Server,
    ServerThread,
    Stall,
    serve,
    tls_contexts,
)

__all__ = [
    "Action",
    "Behavior",
    "Close",
    "ConnectionRecord",
    "Delay",
    "Drop",
    "Ping",
    "Send",
    "SendFragments",
    "Server",
    "ServerThread",
    "Stall",
    "serve",
    "tls_contexts",
]
