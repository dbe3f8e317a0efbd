"""The test suite against the installed wheel, once per supported Python.

``.ci/run`` builds ``dist/`` first (``python -m build``) and then runs
``nox``; by hand::

    python -m build && nox            # every Python found
    nox -s wheel-3.13                 # one of them

Each session installs the one wheel in ``dist/`` with its ``test`` extra into
a fresh virtualenv and runs pytest from a temporary directory with
``--import-mode=importlib``, so that ``import w3cws`` finds the installed
package, never the source tree beside the tests (the ``W3CWS_EXPECT_INSTALLED``
variable makes ``tests/test_installed.py`` check that). The ``wheel``
sessions get the newest wsproto the requirement allows; ``wsproto-oldest``
runs the engine's and the WebSocket's tests with the oldest (1.2.0).
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.11", "3.12", "3.13"]
WSPROTO_OLDEST = "1.2.0"  # the lower bound of the requirement in pyproject.toml

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True


def _wheel() -> Path:
    wheels = sorted((ROOT / "dist").glob("w3cws-*.whl"))
    if len(wheels) != 1:
        found = ", ".join(w.name for w in wheels) or "none"
        raise SystemExit(
            f"expected exactly one wheel in dist/, found {found}: "
            "empty dist/ and run `python -m build` first"
        )
    return wheels[0]


def _run_tests(session: nox.Session, *paths: str, **env: str) -> None:
    workdir = session.create_tmp()
    session.chdir(workdir)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        f"--rootdir={ROOT}",
        "-c",
        str(ROOT / "pyproject.toml"),
        *(str(ROOT / path) for path in paths),
        *session.posargs,
        env={"W3CWS_EXPECT_INSTALLED": "1", **env},
    )


@nox.session(name="wheel", python=PYTHONS)
def wheel(session: nox.Session) -> None:
    """Install the built wheel (not the source tree) and run the test suite on it."""
    session.install(f"{_wheel()}[test]")
    _run_tests(session, "tests")


@nox.session(name="wsproto-oldest", python=PYTHONS[0])
def wsproto_oldest(session: nox.Session) -> None:
    """The wheel with the oldest wsproto allowed: the tests of the wire and the WebSocket."""
    session.install(f"{_wheel()}[test]", f"wsproto=={WSPROTO_OLDEST}")
    _run_tests(
        session,
        "tests/engine",
        "tests/websocket",
        "tests/test_installed.py",
        W3CWS_EXPECT_WSPROTO=WSPROTO_OLDEST,
    )
