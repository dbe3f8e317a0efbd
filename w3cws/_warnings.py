"""``W3CWSWarning``: what a browser silently ignores, w3cws also says.

A browser ignores ``ws.onMessage = f`` (not a handler attribute, so nothing
fires), a handler that is not callable, a ``binaryType`` it does not know and
unknown listener options; w3cws keeps that behaviour, and warns, so that the
mistake is not a silent wait. The warnings go through Python's ``warnings``
machinery: ``warnings.filterwarnings("ignore", category=W3CWSWarning)``
silences them, ``-W error::w3cws.W3CWSWarning`` makes them errors.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["W3CWSWarning", "warn"]

# Frames in files under this folder are w3cws's own; a warning points past them.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class W3CWSWarning(UserWarning):
    """Something a browser would silently ignore, which w3cws ignores too."""

    __module__ = "w3cws"


def warn(message: str) -> None:
    """Issue a ``W3CWSWarning`` pointing at the first caller outside w3cws.

    The caller's line is what a user wants to see (``ws.onMessage = f``),
    however many w3cws frames (descriptors, ``__setattr__``) lie between.
    """
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, W3CWSWarning, stacklevel=level)
