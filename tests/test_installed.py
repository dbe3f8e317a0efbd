"""Which w3cws the tests import, and that the test tree has no top-level names."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

import w3cws

TESTS = Path(__file__).resolve().parent


@pytest.mark.skipif(
    not os.environ.get("W3CWS_EXPECT_INSTALLED"),
    reason="only in the wheel sessions of noxfile.py, which set W3CWS_EXPECT_INSTALLED",
)
def test_the_installed_package_is_under_test() -> None:
    # The wheel sessions must test what a user installs, not the checkout.
    package = Path(w3cws.__file__).resolve().parent
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert package.is_relative_to(site_packages), package
    assert package != TESTS.parent / "w3cws", package


def test_every_test_folder_is_a_package_under_tests() -> None:
    # A folder without __init__.py would be imported under its own top-level
    # name (``websocket.conftest`` once shadowed the websocket-client package).
    folders = {path.parent for path in TESTS.rglob("*.py")}
    missing = sorted(str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").exists())
    assert not missing, f"add an __init__.py to: {missing}"
    assert __name__ == "tests.test_installed"


@pytest.mark.skipif(
    not os.environ.get("W3CWS_EXPECT_WSPROTO"),
    reason="only in the wsproto-oldest session of noxfile.py, which sets W3CWS_EXPECT_WSPROTO",
)
def test_the_expected_wsproto_is_under_test() -> None:
    from importlib.metadata import version

    assert version("wsproto") == os.environ["W3CWS_EXPECT_WSPROTO"]
