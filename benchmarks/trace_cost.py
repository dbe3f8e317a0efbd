"""What the frame log and the trace API cost: with nothing listening, and with.

    python benchmarks/trace_cost.py [--base DIR] [--repeats N] [--quick]

Runs the w3cws client of ``clients.py`` (pipelined 64 B messages, ping-pong)
against the echo server of ``run.py``, each run in a fresh process, the
variants interleaved and repeated. For each it prints the client's CPU time
per message (user + system, measured around the workload in the client
process) and the rate, as medians, with ratios to "off". CPU time is the
steadier figure on a busy machine: other load stretches wall-clock rates
but hardly the CPU a run needs.

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
# Workload -> (rate key, messages per run full, quick).
WORKLOADS = {"pipelined": ("msg_per_s", 40000, 20000), "pingpong": ("rt_per_s", 6000, 3000)}


def run_variant(
    variant: str, workload: str, url: str, count: int, base: str | None
) -> tuple[float, float]:
    """One run in a fresh interpreter: (CPU µs per message, rate)."""
    code = "\n".join(
        [
            "import runpy, sys, time, w3cws",
            SETUP[variant],
            f"sys.argv = ['clients.py', 'w3cws', {workload!r}, {url!r}, '--count', '{count}']",
            "start = time.process_time()",
            f"runpy.run_path({os.path.join(HERE, 'clients.py')!r}, run_name='__main__')",
            "print(time.process_time() - start, file=sys.stderr)",
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
    rate = float(json.loads(done.stdout.strip().splitlines()[-1])[WORKLOADS[workload][0]])
    cpu = float(done.stderr.strip().splitlines()[-1])
    return cpu / count * 1e6, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a directory holding an older w3cws package")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    variants = [v for v in SETUP if v != "base" or args.base]
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with EchoServer() as server:
        print(f"echo server: {server.name}")
        for repeat in range(args.repeats):
            # Rotate the order each repeat, so drift hits every variant alike.
            order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
            for workload, (_, full, quick) in WORKLOADS.items():
                for variant in order:
                    count = quick if args.quick else full
                    result = run_variant(variant, workload, server.url, count, args.base)
                    results.setdefault((workload, variant), []).append(result)
    for workload, (key, _, _) in WORKLOADS.items():
        cpu_off = statistics.median(c for c, _ in results[(workload, "off")])
        rate_off = statistics.median(r for _, r in results[(workload, "off")])
        print(f"\n{workload}, medians of {args.repeats} runs:")
        print(f"  {'variant':<11} {'CPU µs/msg':>10} {'ratio':>6}   {key:>10} {'ratio':>6}")
        for variant in variants:
            cpu = statistics.median(c for c, _ in results[(workload, variant)])
            rate = statistics.median(r for _, r in results[(workload, variant)])
            print(
                f"  {variant:<11} {cpu:>10.2f} {cpu / cpu_off:6.3f}"
                f"   {rate:>10.0f} {rate / rate_off:6.3f}"
            )


if __name__ == "__main__":
    main()
