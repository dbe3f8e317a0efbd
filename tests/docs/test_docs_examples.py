"""Every code example in docs/*.md runs here, so the documentation cannot rot.

The convention (also in docs/index.md, "About these pages"):

1. Every fence whose language is ``python`` (or ``py``, ``python3``,
   ``pycon``) is executed. Fences in any other language (``sh``, ``text``,
   ``javascript``...) are shown, never run.
2. How a fence runs follows from its code (a marker can say otherwise):

   - **script**: it calls ``trio.run(...)`` or ``asyncio.run(...)`` (or has an
     ``if __name__ == "__main__":`` block). It runs alone, as ``__main__``,
     in a fresh interpreter, as a reader who saved it to a file would run it.
     It must exit with status 0.
   - **pytest**: it defines a top-level ``test_*`` function. The page's
     pytest fences are written out as test modules and run by one pytest
     (``trio_mode = true``, the w3cws fixtures available), which must pass.
   - **doctest**: ``pycon``, or its first line starts with ``>>>``. The
     page's doctest fences run in order in one namespace with no event loop
     running (as at the ``>>>`` prompt), ``...`` matching anything.
   - **session**: anything else, a fragment. The page's session fences run
     in order in one namespace in one process, like notebook cells, with
     top-level ``await`` and ``async with`` allowed, under ``trio.run`` --
     or under ``asyncio.run`` if any of them mentions ``asyncio``. Between
     two fences the loop runs for a moment (``READER_PAUSE`` in
     docs_runner.py), as it does while a reader types the next cell.

   Pytest and session fences may use names imported by earlier fences of the
   same page; scripts must be complete, so a reader can copy them as they are.
3. ``ws://127.0.0.1:8765`` (or ``localhost:8765``) is the placeholder for "a
   WebSocket server you started", which is what ``w3cws serve`` listens on by
   default. The test rewrites it to a live :mod:`w3cws.testing` server with
   the default behaviour (echo, first subprotocol, permessage-deflate); the
   path and query are kept, so an example picks other behaviours with the
   URL mini-language (``ws://127.0.0.1:8765/?send=hi&close=4000``), which
   works the same against ``w3cws serve``. Examples may also start their own
   server with ``w3cws.testing.serve``. Only loopback names resolve: any
   other host fails as a DNS error would, so nothing leaves the machine.
4. A ```` ```text ```` fence directly after a Python fence (nothing but blank
   lines between them) is that example's expected stdout, compared line by
   line (trailing spaces ignored), ``...`` matching anything within a line
   or whole lines. For a session fence it is what was printed while that
   fence ran.
5. Anything on stderr fails the example: an exception in a listener, which
   w3cws logs instead of raising, must not go unnoticed.
6. A MyST comment on the line before a fence (blank lines allowed between)
   changes this: ``% docs-test: script|session|pytest|doctest`` forces a
   mode, ``trio``/``asyncio`` picks the session's loop, ``stderr-ok`` allows
   stderr output, ``not-output`` (before a text fence) says it is not an
   expected output, and ``skip REASON`` leaves a fence out, with the reason
   in the test report.
7. Every example runs in a child process with a time limit
   (``TIMEOUT`` seconds), on loopback only; each should take well under 2 s.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import w3cws
from w3cws.testing import Behavior, ServerThread

from .docs_md import PLACEHOLDER, Fence, Run, fences_of, runs_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNER = Path(__file__).with_name("docs_runner.py")
TIMEOUT = 20
README = ROOT / "README.md"
PAGES = [*sorted(DOCS.glob("*.md")), README]

RUNS: list[Run] = []
SKIPPED: list[Fence] = []
for _page in PAGES:
    _runs, _skipped = runs_of(_page)
    RUNS.extend(_runs)
    SKIPPED.extend(_skipped)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The live server that the placeholder URL is rewritten to."""
    with ServerThread(Behavior()) as server:
        yield server.url


def _rewrite(code: str, url: str) -> str:
    port = url.rsplit(":", 1)[1]
    return PLACEHOLDER.sub(lambda match: f"{match[1]}://127.0.0.1:{port}", code)


def _check_output(fence: Fence, got: str) -> None:
    if fence.output is None:
        return
    want = "\n".join(line.rstrip() for line in fence.output.strip("\n").splitlines())
    got = "\n".join(line.rstrip() for line in got.strip("\n").splitlines())
    if not doctest.OutputChecker().check_output(want + "\n", got + "\n", doctest.ELLIPSIS):
        pytest.fail(
            f"{fence.where}: the example printed\n{textwrap.indent(got, '    ')}\n"
            f"but the page shows\n{textwrap.indent(want, '    ')}",
            pytrace=False,
        )


def _spec(run: Run, url: str) -> dict[str, object]:
    return {
        "mode": run.mode,
        "loop": run.loop,
        "fences": [
            {
                "page": str(fence.page),
                "line": fence.line,
                "code": _rewrite(fence.code, url),
                "preamble": preamble,
            }
            for fence, preamble in zip(run.fences, run.preambles, strict=True)
        ],
    }


def _run_child(run: Run, tmp_path: Path, url: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    spec = tmp_path / "spec.json"
    result = tmp_path / "result.json"
    spec.write_text(json.dumps(_spec(run, url)), encoding="utf-8")
    process = subprocess.run(
        [sys.executable, str(RUNNER), str(spec), str(result)],
        cwd=tmp_path,
        input="\n" * 8,  # an example that waits for Enter gets it
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=TIMEOUT,
        check=False,
    )
    outcome = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
    return process, outcome


def _run_pytest(run: Run, tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\ntrio_mode = true\ntimeout = {TIMEOUT}\n", encoding="utf-8"
    )
    (tmp_path / "conftest.py").write_text(
        "import socket, sys\n"
        f"sys.path.insert(0, {str(RUNNER.parent)!r})\n"
        "import docs_runner\n"
        "socket.getaddrinfo = docs_runner._loopback_only\n",
        encoding="utf-8",
    )
    stem = re.sub(r"\W", "_", run.page.stem)
    for fence, preamble in zip(run.fences, run.preambles, strict=True):
        padding = "\n" * (fence.line - 2)
        source = "; ".join(preamble) + "\n" + padding + _rewrite(fence.code, url)
        (tmp_path / f"test_{stem}_line{fence.line}.py").write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )


@pytest.mark.parametrize("run", RUNS, ids=[run.id for run in RUNS])
def test_example(run: Run, tmp_path: Path, server_url: str) -> None:
    """Run one script, or one page's session, doctests or pytest fences."""
    stderr_ok = any("stderr-ok" in fence.marker for fence in run.fences)
    if run.mode == "pytest":
        process = _run_pytest(run, tmp_path, server_url)
        assert process.returncode == 0, f"{run.id}:\n{process.stdout}\n{process.stderr}"
        return
    process, outcome = _run_child(run, tmp_path, server_url)
    error = outcome.get("error")
    if error is not None:
        fence = run.fences[error["index"]]
        pytest.fail(f"{fence.where} failed:\n{error['traceback']}", pytrace=False)
    if process.returncode != 0:
        pytest.fail(
            f"{run.id} exited with {process.returncode}:\n{process.stdout}\n{process.stderr}",
            pytrace=False,
        )
    if process.stderr and not stderr_ok:
        pytest.fail(f"{run.id} wrote to stderr:\n{process.stderr}", pytrace=False)
    if run.mode == "script":
        _check_output(run.fences[0], process.stdout)
    else:
        for fence, printed in zip(run.fences, outcome["outputs"], strict=True):
            _check_output(fence, printed)


if SKIPPED:

    @pytest.mark.parametrize("fence", SKIPPED, ids=[fence.where for fence in SKIPPED])
    def test_skipped_example(fence: Fence) -> None:
        """A fence marked ``% docs-test: skip REASON``: listed, with its reason."""
        pytest.skip(f"{fence.where}: {fence.skip_reason}")


def test_examples_were_found() -> None:
    """The extraction finds the examples of the pages this test owns."""
    pages = {run.page.name for run in RUNS}
    assert {"README.md", "quickstart.md", "porting.md", "reference.md", "index.md"} <= pages
    own = [f for f in SKIPPED if f.page.name in {"quickstart.md", "porting.md", "features.md"}]
    assert not own, "the Quickstart and the porting guide run every example"


def test_readme_example_says_when_nothing_answers(tmp_path: Path) -> None:
    """Without a server, the README's example says what to start, and ends."""
    [run] = [run for run in RUNS if run.page == README]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
    process, outcome = _run_child(run, tmp_path, closed_url)
    assert (process.returncode, outcome.get("error")) == (0, None)
    # The console's line (the w3cws.connection WARNING), then the example's own.
    assert process.stderr == (
        f"WebSocket connection to '{closed_url}/chat' failed: connection refused\n"
    )
    assert process.stdout == (f"nothing answered at {closed_url}/chat: is `w3cws serve` running?\n")


def _sh_fences(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_quickstart_commands_are_the_readme_commands() -> None:
    """The Quickstart's install and test commands are the README's, verbatim."""
    readme = _sh_fences((ROOT / "README.md").read_text(encoding="utf-8"))
    quickstart = _sh_fences((DOCS / "quickstart.md").read_text(encoding="utf-8"))
    assert readme, "the README has no sh fence"
    for command in readme:
        assert command in quickstart, f"the Quickstart lacks the README's command:\n{command}"


def _close_code_rows() -> dict[int, list[str]]:
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    table = text.split("(close-code-table)=", 1)[1]
    rows: dict[int, list[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows[int(cells[0])] = cells
        elif rows and not line.startswith("|"):
            break
    return rows


def test_close_code_table_matches_describe_close_code() -> None:
    """Reference's close-code table agrees with ``describe_close_code``, row by row."""
    rows = _close_code_rows()
    assert set(rows) == {int(code) for code in w3cws.CloseCode}
    yes_no = {"yes": True, "no": False}
    for code, (_, names, sendable, script_may_send, _meaning) in rows.items():
        info = w3cws.describe_close_code(code)
        listed = re.findall(r"`(\w+)`", names)
        aliases = [n for n, m in w3cws.CloseCode.__members__.items() if m == code]
        assert listed == aliases, f"{code}: names {listed}, CloseCode has {aliases}"
        assert listed[0] == info.name
        assert yes_no[sendable] is info.sendable, f"{code}: 'on the wire' column"
        assert yes_no[script_may_send] is info.script_may_send, f"{code}: 'close()' column"


def test_close_code_ranges_match_describe_close_code() -> None:
    """The range table's examples fall in the categories the page gives them."""
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    table = text.split("(close-code-ranges)=", 1)[1].split("\n\n", 2)[1]
    for line in table.splitlines()[2:]:
        first, last, category, sendable, script_may_send, _ = (
            cell.strip().strip("`") for cell in line.strip().strip("|").split("|")
        )
        for code in {int(first), int(last)}:
            info = w3cws.describe_close_code(code)
            if w3cws.describe_close_code(code).name is not None:
                continue
            assert info.category == category, code
            assert info.sendable is (sendable == "yes"), code
            assert info.script_may_send is (script_may_send == "yes"), code


def test_fence_extraction_follows_the_convention(tmp_path: Path) -> None:
    """The convention's rules, on a small page."""
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            ```python
            import trio
            print(1)
            ```

            ```text
            1
            ```

            % docs-test: skip needs a real server
            ```python
            x = 1
            ```

            ```python
            async def test_it():
                pass
            ```

            ```python
            trio.run(trio.sleep, 0)
            ```

            ```pycon
            >>> 1 + 1
            2
            ```

            ```sh
            echo not run
            ```
            """
        ),
        encoding="utf-8",
    )
    fences = fences_of(page)
    langs = [f.lang for f in fences]
    assert langs == ["python", "text", "python", "python", "python", "pycon", "sh"]
    assert fences[0].line == 2 and fences[0].output == "1\n"
    runs, skipped = runs_of(page)
    assert [f.skip_reason for f in skipped] == ["needs a real server"]
    assert [(r.mode, [f.line for f in r.fences]) for r in runs] == [
        ("session", [2]),
        ("pytest", [16]),
        ("script", [21]),
        ("doctest", [25]),
    ]
    assert runs[1].preambles == [["import trio"]]
