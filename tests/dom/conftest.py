"""Object-model tests run with the default listener hooks, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from w3cws._dom.event_target import set_async_listener_runner, set_exception_reporter


@pytest.fixture(autouse=True)
def _default_hooks() -> Iterator[None]:
    """Default exception reporter and no async runner during each test; the
    runtime's hooks (installed when w3cws is imported) come back after it."""
    reporter = set_exception_reporter(None)
    runner = set_async_listener_runner(None)
    yield
    set_exception_reporter(reporter)
    set_async_listener_runner(runner)
