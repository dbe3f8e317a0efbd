"""The WHATWG object model: DOMException, events, EventTarget, abort, Blob, WebIDL.

Pure Python: nothing in this package imports trio, wsproto or asyncio
(``tests/test_boundaries.py`` checks each module in a fresh interpreter), so
the object model can be used and tested without an event loop. The one
place it needs a loop, starting an ``async def`` listener, goes through a
hook that ``w3cws._loop`` installs.
"""
