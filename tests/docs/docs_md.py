"""Find the code examples in docs/*.md and group them into runs.

See the convention at the top of ``test_docs_examples.py``. This module only
reads Markdown; ``docs_runner.py`` executes the code, in a child process.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PLACEHOLDER",
    "Fence",
    "Run",
    "fences_of",
    "runs_of",
]

# Languages whose fences are executed; every other fence (sh, text, js...) is
# shown, never run.
PYTHON_LANGS = frozenset({"python", "py", "python3", "pycon"})

# The URL examples use for "a WebSocket server you started yourself": what
# `w3cws serve` listens on by default. The test rewrites it to a live
# w3cws.testing server on a free port; path and query are kept, so the query
# mini-language picks the server's behaviour per example.
PLACEHOLDER = re.compile(r"\b(ws|http)://(?:127\.0\.0\.1|localhost):8765\b")

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*%\s*docs-test:\s*(?P<words>.*?)\s*$")

MODES = frozenset({"script", "session", "doctest", "pytest"})
FLAGS = frozenset({"trio", "asyncio", "stderr-ok", "not-output"})


@dataclass
class Fence:
    """One fenced code block of a Markdown page."""

    page: Path
    line: int  # line number (1-based) of the first line of code
    lang: str
    code: str
    marker: list[str] = field(default_factory=list)  # words after "% docs-test:"
    output: str | None = None  # the expected stdout: the ```text fence right after
    end_line: int = 0  # the line of the closing fence

    @property
    def skip_reason(self) -> str | None:
        if self.marker[:1] != ["skip"]:
            return None
        reason = " ".join(self.marker[1:])
        if not reason:
            raise ValueError(f"{self.where}: '% docs-test: skip' needs a reason")
        return reason

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def mode(self) -> str:
        """``script``, ``session``, ``doctest`` or ``pytest``: how the fence runs."""
        chosen = [word for word in self.marker if word in MODES]
        if len(chosen) > 1:
            raise ValueError(f"{self.where}: more than one mode in the marker: {chosen}")
        if chosen:
            return chosen[0]
        if self.lang == "pycon" or self.code.lstrip().startswith(">>>"):
            return "doctest"
        tree = ast.parse(self.code)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                return "pytest"
        if re.search(r"\b(trio|asyncio)\.run\(|__name__\s*==\s*['\"]__main__['\"]", self.code):
            return "script"
        return "session"

    def imports(self) -> list[str]:
        """The fence's top-level import statements, as source."""
        if self.mode == "doctest":
            return []
        return [
            ast.unparse(node)
            for node in ast.parse(self.code).body
            if isinstance(node, ast.Import)
            or (isinstance(node, ast.ImportFrom) and node.module != "__future__")
        ]


def fences_of(page: Path) -> list[Fence]:
    """Every fenced code block of ``page``, with its marker and expected output."""
    lines = page.read_text(encoding="utf-8").splitlines()
    fences: list[Fence] = []
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        mark = opening["fence"]
        info = opening["info"].strip().split()
        # ```{code-block} python (with a :caption:) counts as ```python.
        if info[:1] in (["{code-block}"], ["{code}"], ["{sourcecode}"]):
            info = info[1:]
        lang = info[0] if info else ""
        body: list[str] = []
        end = index + 1
        closing = re.compile(rf"^[ \t]*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
        while end < len(lines) and not closing.match(lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        first = index + 2
        if opening["info"].strip().startswith("{"):
            # Directive options (":caption: Python") and the blank line after them.
            while body and re.match(r"^:[\w-]+:", body[0]):
                body.pop(0)
                first += 1
            if body and not body[0].strip():
                body.pop(0)
                first += 1
        marker: list[str] = []
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0 and (found := _MARKER.match(lines[before])):
            marker = found["words"].split()
        fences.append(Fence(page, first, lang, "\n".join(body) + "\n", marker, end_line=end + 1))
        index = end + 1
    # A ```text fence with nothing but blank lines between it and a Python
    # fence is that fence's expected output.
    for previous, fence in itertools.pairwise(fences):
        between = lines[previous.end_line : fence.line - 2]
        if (
            previous.lang in PYTHON_LANGS
            and fence.lang == "text"
            and "not-output" not in fence.marker
            and not any(line.strip() for line in between)
        ):
            previous.output = fence.code
    return fences


@dataclass
class Run:
    """What one test item executes: one script, or a page's session, doctests or tests."""

    mode: str
    page: Path
    fences: list[Fence]
    preambles: list[list[str]]  # per fence: the imports of the fences before it
    loop: str | None = None  # for sessions: "trio" or "asyncio"

    @property
    def id(self) -> str:
        lines = ",".join(str(fence.line) for fence in self.fences)
        return f"{self.page.name}:{lines}:{self.mode}"


def runs_of(page: Path) -> tuple[list[Run], list[Fence]]:
    """Group the Python fences of ``page`` into runs; also return the skipped ones.

    Each script fence is a run of its own. The session fences of a page form
    one run, in page order, in one namespace (like notebook cells); so do its
    doctest fences, and its pytest fences (one test module each, one pytest).
    """
    runs: list[Run] = []
    skipped: list[Fence] = []
    grouped: dict[str, Run] = {}
    imports: list[str] = []
    for fence in fences_of(page):
        if fence.lang not in PYTHON_LANGS:
            continue
        unknown = [w for w in fence.marker if w not in MODES | FLAGS and fence.marker[0] != "skip"]
        if unknown:
            raise ValueError(f"{fence.where}: unknown docs-test marker word(s) {unknown}")
        if fence.skip_reason is not None:
            skipped.append(fence)
            continue
        mode = fence.mode
        preamble = list(imports)
        imports.extend(i for i in fence.imports() if i not in imports)
        if mode == "script":
            runs.append(Run(mode, page, [fence], [[]]))
            continue
        run = grouped.get(mode)
        if run is None:
            run = grouped[mode] = Run(mode, page, [], [])
            runs.append(run)
        run.fences.append(fence)
        run.preambles.append(preamble)
    session = grouped.get("session")
    if session is not None:
        loops = {w for fence in session.fences for w in fence.marker if w in ("trio", "asyncio")}
        if len(loops) > 1:
            raise ValueError(f"{page.name}: session fences ask for both trio and asyncio")
        if loops:
            session.loop = loops.pop()
        elif any(re.search(r"\basyncio\b", fence.code) for fence in session.fences):
            session.loop = "asyncio"
        else:
            session.loop = "trio"
    return runs, skipped
