"""Where w3cws spends its time: one workload under cProfile.

    python benchmarks/profile_w3cws.py WORKLOAD [--count N] [--url URL]

Without ``--url`` it starts the same echo server as run.py. Prints the
functions with the most own time ("tottime") and the per-message cost.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import clients  # noqa: E402
from run import EchoServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=clients.WORKLOADS)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--url")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    count = args.count or {"pingpong": 3000, "pipelined": 20000, "bulk": 32}.get(args.workload, 200)
    client = "w3cws"
    with EchoServer() as server:
        url = args.url or server.url
        profile = cProfile.Profile()
        profile.enable()
        result = clients.run(client, args.workload, url, count)
        profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{client} {args.workload} x{count}: {result}")
    print(f"profiled CPU: {total:.3f} s, {total / count * 1e6:.1f} us per unit")
    print(out.getvalue())


if __name__ == "__main__":
    main()
