"""Which module may import which: the engine's interfaces hold in the code.

Read statically from the sources (every import statement, also those inside
functions), so the check does not depend on import order or on what a test
imported before.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import w3cws

PACKAGE = Path(w3cws.__file__).parent
ENGINE = sorted((PACKAGE / "_engine").glob("*.py"))


def imported(path: Path) -> set[str]:
    """The absolute names of the modules ``path`` imports."""
    names: set[str] = set()
    package = "w3cws." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rstrip(".").rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n == "w3cws" or n.startswith("w3cws.")}


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_the_engine_imports_nothing_above_it(path: Path) -> None:
    # The engine knows the pure layers (URL record, checks, close codes, the
    # object model's exceptions through them) and itself: never the
    # WebSocket, the hosts, the CLI or the testing package.
    allowed = ("w3cws._engine", "w3cws._url", "w3cws._checks", "w3cws._close_codes")
    above = {n for n in ours(imported(path)) if not n.startswith(allowed)}
    assert above == set()


def test_only_the_wsproto_codec_and_its_extensions_use_wsproto() -> None:
    users = {p.name for p in ENGINE if any(n.startswith("wsproto") for n in imported(p))}
    assert users == {"wsproto_codec.py", "tap.py", "deflate.py"}


def test_the_websocket_sees_only_the_engine_interfaces() -> None:
    names = imported(PACKAGE / "_websocket.py")
    engine = {n for n in names if n.startswith("w3cws._engine")}
    # The package (Engine, EngineListener, open_engine, ConnectOptions, the
    # proxy choice and the diagnostics' views) and the limits' defaults; no
    # concrete engine module.
    assert {n.split(".")[2] for n in engine if n.count(".") >= 2} <= {
        "ConnectOptions",
        "Engine",
        "EngineFactory",
        "EngineListener",
        "Proxy",
        "limits",
        "open_engine",
        "parse_proxy",
        "proxy_for",
        "render_html",
        "shown_url",
    }
    assert not any(n.startswith("wsproto") for n in names)


@pytest.mark.parametrize("path", sorted((PACKAGE / "_dom").glob("*.py")), ids=lambda p: p.name)
def test_the_object_model_imports_only_itself(path: Path) -> None:
    # Besides itself, only leaves that import nothing of w3cws: the close
    # code names (for CloseEvent's repr) and the warning category.
    leaves = ("w3cws._dom", "w3cws._close_codes", "w3cws._warnings")
    assert {n for n in ours(imported(path)) if not n.startswith(leaves)} == set()


@pytest.mark.parametrize("leaf", ["_close_codes.py", "_warnings.py"])
def test_the_leaves_import_nothing_of_w3cws(leaf: str) -> None:
    assert ours(imported(PACKAGE / leaf)) == set()
