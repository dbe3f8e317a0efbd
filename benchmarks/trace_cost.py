"""What the frame log and the trace API cost: with nothing listening, and with.

    python benchmarks/trace_cost.py [--base DIR] [--repeats N] [--quick]

Runs the w3cws client of ``clients.py`` (pipelined 64 B messages, ping-pong)
against the echo server of ``run.py``, each run in a fresh process, the
variants interleaved and repeated, and prints the best and the median rate
of each, with ratios to "off". Other load on the machine only ever slows a
run down, so the best of many runs is the steadier figure:

- ``base``: the w3cws package found in ``DIR`` (say, an export of an older
  commit: ``git archive COMMIT w3cws | tar -x -C DIR``), to compare before
  and after a change in the same run;
- ``off``: this checkout, logging at WARNING and no trace subscriber;
- ``subscriber``: a trace subscriber that does nothing;
- ``frame log``: ``w3cws.frames`` at DEBUG, into a ``NullHandler``.

Loopback only; each run is bounded by ``clients.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from run import EchoServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# What each variant does before clients.py runs, in the same process.
SETUP = {
    "base": "",
    "off": "",
    "subscriber": "import w3cws; w3cws.subscribe_trace(lambda event: None)",
    "frame log": (
        "import logging; log = logging.getLogger('w3cws.frames'); "
        "log.addHandler(logging.NullHandler()); log.propagate = False; "
        "log.setLevel(logging.DEBUG)"
    ),
}
WORKLOADS = {"pipelined": ("msg_per_s", 20000, 10000), "pingpong": ("rt_per_s", 3000, 1000)}


def run_variant(variant: str, workload: str, url: str, count: int, base: str | None) -> float:
    """One measurement in a fresh interpreter: the workload's rate."""
    key = WORKLOADS[workload][0]
    code = "\n".join(
        [
            "import runpy, sys",
            SETUP[variant],
            f"sys.argv = ['clients.py', 'w3cws', {workload!r}, {url!r}, '--count', '{count}']",
            f"runpy.run_path({os.path.join(HERE, 'clients.py')!r}, run_name='__main__')",
        ]
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = base if variant == "base" and base else ROOT
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=HERE,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a directory holding an older w3cws package")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    variants = [v for v in SETUP if v != "base" or args.base]
    results: dict[tuple[str, str], list[float]] = {}
    with EchoServer() as server:
        print(f"echo server: {server.name}")
        for repeat in range(args.repeats):
            # Rotate the order each repeat, so drift hits every variant alike.
            order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
            for workload, (_, full, quick) in WORKLOADS.items():
                for variant in order:
                    rate = run_variant(
                        variant, workload, server.url, quick if args.quick else full, args.base
                    )
                    results.setdefault((workload, variant), []).append(rate)
    for workload, (key, _, _) in WORKLOADS.items():
        best_off = max(results[(workload, "off")])
        median_off = statistics.median(results[(workload, "off")])
        print(f"\n{workload} ({key}, {args.repeats} runs): best, ratio; median, ratio")
        for variant in variants:
            rates = results[(workload, variant)]
            best, median = max(rates), statistics.median(rates)
            print(
                f"  {variant:<11} {best:>9.0f} {best / best_off:6.3f}"
                f"   {median:>9.0f} {median / median_off:6.3f}"
            )


if __name__ == "__main__":
    main()
