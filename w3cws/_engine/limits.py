"""Default limits and timers of the connection engine, in one place.

Each value is also a keyword-only argument of ``WebSocket(...)``; see the docs
page "Limits and failure modes" for what the script sees when one is hit.
"""

from __future__ import annotations

#: Largest message delivered to the script, in bytes (UTF-8 bytes for text;
#: inflated bytes with permessage-deflate). Browsers have no fixed limit;
#: 64 MiB is far above what real applications send, and bounds memory against
#: a hostile server. Past it the connection is failed with close code 1009.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024

#: Chromium's closing handshake timeout: after close(), wait this long for
#: the server's Close before dropping TCP (close 1006, not clean).
CLOSE_TIMEOUT = 60.0

#: Chromium's "underlying connection close" timeout: after both Close frames,
#: wait this long for the server to close TCP before closing it ourselves.
TCP_CLOSE_TIMEOUT = 2.0

#: Chromium's opening handshake timeout (TCP, TLS and HTTP upgrade together).
OPEN_TIMEOUT = 240.0

#: How many bytes one read asks the transport for.
RECEIVE_SIZE = 64 * 1024

#: Messages larger than this are masked and written a piece of this size at
#: a time (a multiple of 4, the masking key's length).
WRITE_PIECE_SIZE = 64 * 1024

#: The most one TLS write encrypts before it lets other tasks run.
TLS_WRITE_SIZE = 64 * 1024

#: With permessage-deflate, received data is fed to the codec in slices of
#: this size. wsproto's codec inflates whatever it is fed at once, and DEFLATE
#: expands at most about 1032:1, so one slice inflates to about 4 MiB at the
#: most before its size check runs again; our codec bounds each inflate
#: itself, and small slices keep one call's messages few, so their memory is
#: reused.
DEFLATE_FEED_SIZE = 4 * 1024

#: Largest HTTP response head (status line and headers) accepted during the
#: opening handshake.
MAX_HANDSHAKE_SIZE = 64 * 1024
