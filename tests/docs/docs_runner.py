"""Child process that executes documentation examples (see test_docs_examples.py).

Usage: ``python docs_runner.py SPEC.json RESULT.json``. SPEC holds ``mode``
(``script``, ``session`` or ``doctest``), ``loop`` (sessions: ``trio`` or
``asyncio``) and ``fences``: ``{"page", "line", "code", "preamble"}`` each.

Code is compiled with the Markdown file as its file name and padded with
blank lines, so a traceback points at the right line of the page. Name
resolution is limited to loopback: an example that names another host (say
``wss://example.org/``) gets a DNS failure, hence ``error`` and ``close``
1006, and never touches the network.

``script``: the one fence runs as ``__main__``; its stdout is the process's.
``session`` and ``doctest``: the fences run in order in one namespace, each
with top-level ``await`` allowed and the loop running for ``READER_PAUSE``
seconds between two fences (sessions), or as a doctest (no event loop, as
at the ``>>>`` prompt). RESULT gets each fence's stdout and, if one
failed, its index and traceback.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import inspect
import io
import ipaddress
import json
import socket
import sys
import traceback
from typing import Any

_real_getaddrinfo = socket.getaddrinfo

# Seconds the event loop runs between two session fences.
READER_PAUSE = 0.5


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name != "localhost":
        try:
            loopback = ipaddress.ip_address(name.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise socket.gaierror(
                socket.EAI_NONAME, f"docs examples run offline; {name!r} is not loopback"
            )
    return _real_getaddrinfo(host, *args, **kwargs)


def _compile(fence: dict[str, Any], *, top_level_await: bool) -> Any:
    # The preamble (the imports of earlier fences) goes on the first line; the
    # code keeps its own line numbers.
    code = fence["code"]
    padding = "\n" * (fence["line"] - 2)
    source = "; ".join(fence["preamble"]) + "\n" + padding + code
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if top_level_await else 0
    return compile(source, fence["page"], "exec", flags=flags, dont_inherit=True)


async def _session(fences: list[dict[str, Any]], result: dict[str, Any], sleep: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for index, fence in enumerate(fences):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                if index:
                    # A reader runs the next cell by hand: the loop runs meanwhile.
                    await sleep(READER_PAUSE)
                value = eval(_compile(fence, top_level_await=True), namespace)
                if inspect.iscoroutine(value):
                    await value
        except BaseException:
            result["error"] = {"index": index, "traceback": traceback.format_exc()}
            return
        finally:
            result["outputs"].append(out.getvalue())


def _doctests(fences: list[dict[str, Any]], result: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    for index, fence in enumerate(fences):
        test = parser.get_doctest(
            fence["code"], namespace, fence["page"], fence["page"], fence["line"] - 1
        )
        out = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
        runner.run(test, out=out.write, clear_globs=False)
        result["outputs"].append("")
        if runner.failures:
            result["error"] = {"index": index, "traceback": out.getvalue()}
            return


def main() -> None:
    spec_path, result_path = sys.argv[1:3]
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)
    socket.getaddrinfo = _loopback_only  # type: ignore[assignment]
    mode = spec["mode"]
    fences = spec["fences"]
    if mode == "script":
        [fence] = fences
        sys.argv = [fence["page"]]
        exec(_compile(fence, top_level_await=False), {"__name__": "__main__"})
        return
    result: dict[str, Any] = {"outputs": [], "error": None}
    try:
        if mode == "doctest":
            _doctests(fences, result)
        elif spec["loop"] == "asyncio":
            import asyncio

            asyncio.run(_session(fences, result, asyncio.sleep))
        else:
            import trio

            trio.run(_session, fences, result, trio.sleep)
    finally:
        with open(result_path, "w", encoding="utf-8") as file:
            json.dump(result, file)


if __name__ == "__main__":
    main()
