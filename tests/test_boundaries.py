"""The WHATWG object model imports no event loop and no protocol library.

Each module is imported in a fresh interpreter. The package ``__init__``
imports the whole library (trio included), so the check installs an empty
stand-in for the ``w3cws`` package first: what is tested is each module's
own imports, not the facade's.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

OBJECT_MODEL = [
    "_dom",
    "_dom.dom_exception",
    "_dom.webidl",
    "_dom.event",
    "_dom.event_target",
    "_dom.event_handlers",
    "_dom.abort",
    "_dom.blob",
]
FORBIDDEN = ("trio", "wsproto", "asyncio")

CHECK = """
import sys, types
package = types.ModuleType("w3cws")
package.__path__ = [{path!r}]
sys.modules["w3cws"] = package
import importlib
importlib.import_module("w3cws.{module}")
print(",".join(name for name in {forbidden!r} if name in sys.modules))
"""


@pytest.mark.parametrize("module", OBJECT_MODEL)
def test_object_model_module_imports_no_event_loop(module: str) -> None:
    spec = importlib.util.find_spec("w3cws")  # finds the package without importing it
    assert spec is not None
    assert spec.submodule_search_locations is not None
    [path] = spec.submodule_search_locations
    code = CHECK.format(path=path, module=module, forbidden=FORBIDDEN)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"w3cws.{module} imported {result.stdout.strip()}"
