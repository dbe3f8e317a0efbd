"""Show the load test's measurements in the terminal summary, whatever ``-s`` says."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = []
    for report in terminalreporter.stats.get("passed", []):
        props = dict(report.user_properties)
        if "load_seconds" in props:
            lines.append(f"{report.nodeid}: {props['load_summary']}")
    if lines:
        terminalreporter.section("w3cws load")
        for line in lines:
            terminalreporter.write_line(line)
