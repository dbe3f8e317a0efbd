"""The w3cws benchmark: one command, every client, every workload.

    python benchmarks/run.py [--quick] [--repeats N] [--clients a,b] [--no-write]

Clients: w3cws, and the peers websockets, trio-websocket, raw, bare
(clients.py) and node (Node's built-in WebSocket, undici: node_client.js).
``bare`` does the least any client can do; the ratio bare/websockets is the
most any client could show over websockets against this server here.

Starts an echo server in its own process (Node ``ws``, installed on first
use into ``~/.cache/w3cws-bench/node``; the ``websockets`` library when Node
or npm is missing), then runs every workload for every client, each run in a
fresh process (clients.py), interleaved (client order rotates per repeat)
and repeated. Prints medians and the ratios w3cws/peer, and writes
``benchmarks/results/results.md`` and ``results.png``. Loopback only; every
run is bounded in count and time. Full run: a few minutes; --quick: < 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "w3cws-bench", "node")
RUN_TIMEOUT = 150.0  # seconds for one client process (clients.DEADLINE + start-up)

# Workload -> (count full, count quick).
COUNTS = {
    "pingpong": (3000, 1000),
    "pipelined": (20000, 10000),
    "bulk": (48, 16),
    "connect": (1000, 200),
    "concurrent": (1000, 1000),
}
CLIENTS = ["w3cws", "websockets", "trio-websocket", "raw", "node", "bare"]
W3CWS = ["w3cws"]
PEERS = ["websockets", "trio-websocket", "raw", "node", "bare"]
# The ceiling: what the echo server and the kernel allow, over websockets.
CEILING = ("bare", "websockets")

# (workload, metric key, column title, higher is better)
METRICS = [
    ("pingpong", "rt_per_s", "ping-pong rt/s", True),
    ("pingpong", "p50_us", "ping-pong p50 µs", False),
    ("pingpong", "p99_us", "ping-pong p99 µs", False),
    ("pipelined", "msg_per_s", "pipelined 64 B msg/s", True),
    ("bulk", "mib_per_s", "1 MiB echo MiB/s", True),
    ("connect", "conn_per_s", "connect+close /s", True),
    ("concurrent", "open_s", "1000 conns: open s", False),
    ("concurrent", "kib_per_conn", "1000 conns: KiB/conn", False),
]


class EchoServer:
    """The echo server process; ``url`` once started. A context manager."""

    def __init__(self, kind: str = "auto") -> None:
        self.kind = kind
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.name = ""

    def _node_ready(self) -> bool:
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            return False
        if not os.path.isdir(os.path.join(CACHE, "node_modules", "ws")):
            os.makedirs(CACHE, exist_ok=True)
            shutil.copy(os.path.join(HERE, "package.json"), CACHE)
            done = subprocess.run(
                [npm, "install", "--prefix", CACHE, "--no-audit", "--no-fund", "--silent"],
                check=False,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode:
                print(f"npm install failed, falling back: {done.stderr.strip()}", file=sys.stderr)
                return False
        return True

    def __enter__(self) -> EchoServer:
        env = dict(os.environ)
        if self.kind in ("auto", "node") and self._node_ready():
            env["NODE_PATH"] = os.path.join(CACHE, "node_modules")
            cmd = ["node", os.path.join(HERE, "echo_server.js")]
            version = json.load(open(os.path.join(CACHE, "node_modules", "ws", "package.json")))
            self.name = f"Node {platform_node()} + ws {version['version']}"
        else:
            cmd = [sys.executable, os.path.join(HERE, "echo_server.py")]
            import websockets

            self.name = f"Python websockets {websockets.__version__} (fallback)"
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.url = f"ws://127.0.0.1:{port}/"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def platform_node() -> str:
    try:
        return subprocess.run(
            ["node", "--version"], check=False, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def node_command() -> list[str] | None:
    """How to start Node with its built-in WebSocket (undici); None without Node."""
    node = shutil.which("node")
    if node is None:
        return None
    major = platform_node().lstrip("v").split(".")[0]
    # Node 20-21 ship WebSocket behind a flag; from 22 on it is always there.
    flags = ["--experimental-websocket"] if major.isdigit() and int(major) < 22 else []
    return [node, *flags, os.path.join(HERE, "node_client.js")]


def run_one(client: str, workload: str, url: str, count: int) -> dict[str, Any] | None:
    if client == "node":
        node = node_command()
        if node is None:
            print("  node: Node is not installed; skipped", file=sys.stderr)
            return None
        cmd = [*node, workload, url]
    else:
        cmd = [sys.executable, os.path.join(HERE, "clients.py"), client, workload, url]
    try:
        done = subprocess.run(
            [*cmd, "--count", str(count)],
            check=False,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        print(f"  {client} {workload}: timed out", file=sys.stderr)
        return None
    if done.returncode:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  {client} {workload}: failed: {tail[0]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def summarize(
    samples: dict[tuple[str, str], list[dict[str, Any]]], clients: list[str]
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str, str], float]]:
    """Medians per (client, metric); per-repeat ratio medians per (w3cws, peer, metric)."""
    medians: dict[tuple[str, str], float] = {}
    ratios: dict[tuple[str, str, str], float] = {}
    for workload, key, _title, _higher in METRICS:
        for client in clients:
            values = [s[key] for s in samples.get((client, workload), [])]
            if values:
                medians[client, key] = statistics.median(values)
        compared = [(m, p) for m in W3CWS if m in clients for p in clients if p not in W3CWS]
        if all(c in clients for c in CEILING):
            compared.append(CEILING)
        for mine, peer in compared:
            pairs = list(
                zip(
                    samples.get((mine, workload), []),
                    samples.get((peer, workload), []),
                    strict=False,
                )
            )
            if pairs:
                # Ratio within each repeat (same minute of machine noise), then the median.
                ratios[mine, peer, key] = statistics.median(a[key] / b[key] for a, b in pairs)
    return medians, ratios


def markdown(
    medians: dict[tuple[str, str], float],
    ratios: dict[tuple[str, str, str], float],
    clients: list[str],
    header: str,
) -> str:
    lines = [header, "", "Medians (higher is better, except µs, s and KiB):", ""]
    lines.append("| client | " + " | ".join(m[2] for m in METRICS) + " |")
    lines.append("|---|" + "---:|" * len(METRICS))
    for client in clients:
        cells = [
            fmt(medians[client, key]) if (client, key) in medians else "-" for _, key, *_ in METRICS
        ]
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios w3cws / peer (median of per-repeat ratios; > 1 means w3cws is better",
        "for throughput; for µs, s and KiB < 1 means w3cws is better):",
        "",
    ]
    lines.append("| w3cws / peer | " + " | ".join(m[2] for m in METRICS) + " |")
    lines.append("|---|" + "---:|" * len(METRICS))
    for mine in (c for c in W3CWS if c in clients):
        for peer in (c for c in clients if c not in W3CWS):
            cells = [
                f"{ratios[mine, peer, key]:.2f}" if (mine, peer, key) in ratios else "-"
                for _, key, *_ in METRICS
            ]
            lines.append(f"| {mine} / {peer} | " + " | ".join(cells) + " |")
    mine, peer = CEILING
    if any((mine, peer, key) in ratios for _, key, *_ in METRICS):
        cells = [
            f"{ratios[mine, peer, key]:.2f}" if (mine, peer, key) in ratios else "-"
            for _, key, *_ in METRICS
        ]
        lines += [
            "",
            f"The ceiling: {mine} / {peer}, the most any client could show over {peer}",
            "against this server on this machine (bare does no work of its own):",
            "",
            "| ceiling | " + " | ".join(m[2] for m in METRICS) + " |",
            "|---|" + "---:|" * len(METRICS),
            f"| {mine} / {peer} | " + " | ".join(cells) + " |",
        ]
    return "\n".join(lines) + "\n"


def chart(medians: dict[tuple[str, str], float], clients: list[str], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        m
        for m in METRICS
        if m[1] in ("rt_per_s", "msg_per_s", "mib_per_s", "conn_per_s", "kib_per_conn")
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    width = 0.8 / len(clients)
    for i, client in enumerate(clients):
        heights = []
        for _w, key, _t, higher in shown:
            ref = medians.get(("raw", key))
            value = medians.get((client, key))
            if client == "bare" and key == "kib_per_conn":
                # A bare socket and nothing else: no client to compare.
                heights.append(0.0)
            elif ref and value:
                # Relative to the raw trio+wsproto loop; memory inverted so higher is better.
                heights.append(value / ref if higher else ref / value)
            else:
                heights.append(0.0)
        xs = [j + (i - (len(clients) - 1) / 2) * width for j in range(len(shown))]
        bars = ax.bar(xs, heights, width, label=client)
        ax.bar_label(bars, labels=[f"{h:.2f}" if h else "" for h in heights], fontsize=6, padding=1)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    labels = [t if higher else "memory (raw KiB / client KiB)" for _w, _k, t, higher in shown]
    ax.set_xticks(range(len(shown)), labels, fontsize=8)
    ax.set_ylabel("relative to raw trio+wsproto loop (higher is better)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.margins(y=0.12)
    ax.legend(fontsize=7, ncols=len(clients), loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and counts (< 2 min)")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--workloads", default=",".join(COUNTS))
    parser.add_argument("--server", choices=("auto", "node", "python"), default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    clients = args.clients.split(",")
    workloads = args.workloads.split(",")
    repeats = args.repeats or (2 if args.quick else 5)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    began = time.monotonic()
    with EchoServer(args.server) as server:
        print(f"echo server: {server.name} at {server.url}")
        for rep in range(repeats):
            for workload in workloads:
                count = COUNTS[workload][1 if args.quick else 0]
                shift = rep % len(clients)
                for client in clients[shift:] + clients[:shift]:  # interleaved, rotating
                    result = run_one(client, workload, server.url, count)
                    if result is not None:
                        samples.setdefault((client, workload), []).append(result)
            print(f"repeat {rep + 1}/{repeats} done at {time.monotonic() - began:.0f} s")
    medians, ratios = summarize(samples, clients)
    mode = "quick" if args.quick else "full"
    header = (
        f"Echo server: {server.name}, loopback. {repeats} repeats ({mode}), "
        f"each run in a fresh process, clients interleaved. "
        f"Python {platform.python_version()}, {os.cpu_count()} cores. "
        f"Counts: " + ", ".join(f"{w} {COUNTS[w][1 if args.quick else 0]}" for w in workloads) + "."
    )
    table = markdown(medians, ratios, clients, header)
    print()
    print(table)
    print(f"total {time.monotonic() - began:.0f} s")
    if not args.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "results.md"), "w") as f:
            f.write(table)
        with open(os.path.join(RESULTS, "samples.json"), "w") as f:
            json.dump({f"{c}|{w}": v for (c, w), v in samples.items()}, f, indent=0)
        chart(
            medians,
            clients,
            os.path.join(RESULTS, "results.png"),
            f"w3cws benchmark ({mode}), echo server: {server.name}",
        )
        print(f"wrote {RESULTS}/results.md and results.png")


if __name__ == "__main__":
    main()
