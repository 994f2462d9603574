"""How long does the unit gate (`pytest tests/unit`) take, serially and with pytest-xdist?

    .venv/bin/python benchmarks/unit_gate.py [--workers 3] [--dist loadfile] [--repeat 1]
                                             [--only serial|parallel] [-- PYTEST ARGS...]

Runs the unit suite as `make unit` does (`-n 3 --dist loadfile`) and serially (`-n 0`),
alternating the two when repeated, and prints for each run the wall time, the CPU time of the
whole process tree (pytest, its workers and the processes the tests start), the share of the
machine's CPUs that was, and pytest's closing line; then the median wall times, their ratio and
the 15 s budget of the gate. The load average is printed before and after: on a busy machine
(a Go build, another test run) the wall times grow while the CPU times barely move, so judge a
busy run by its CPU time.

A plain script, not a test: the figures depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 15.0
# What `make unit` passes (keep in step with UNIT_WORKERS and UNIT_DIST in the Makefile).
WORKERS = "3"  # as the Makefile: three workers on two cores fill the waits
DIST = "loadfile"


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    returncode: int
    summary: str


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def run_gate(label: str, xdist_args: list[str], extra: list[str]) -> Run:
    # The cache plugin is off so that a run's last-failed data never reorders the next one.
    argv = [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", *xdist_args, *extra]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else f"(no output; stderr: {done.stderr.strip()[-200:]})"
    return Run(label, wall, cpu, done.returncode, summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default=WORKERS, help=f"pytest-xdist -n (default: {WORKERS}, as make unit)")
    parser.add_argument("--dist", default=DIST, help=f"pytest-xdist --dist (default: {DIST}, as make unit)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (default: 1)")
    parser.add_argument("--only", choices=("serial", "parallel"), help="time one kind only")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after `--`")
    args = parser.parse_args(argv)

    kinds: list[tuple[str, list[str]]] = []
    if args.only != "parallel":
        kinds.append(("serial", ["-n", "0"]))
    if args.only != "serial":
        kinds.append((f"-n {args.workers} --dist {args.dist}", ["-n", args.workers, "--dist", args.dist]))
    cpus = os.cpu_count() or 1

    print(f"before: {_load()}")
    runs: list[Run] = []
    for index in range(args.repeat):
        # Alternate which kind goes first, so a load that changes during the runs is shared.
        for label, xdist_args in kinds if index % 2 == 0 else kinds[::-1]:
            run = run_gate(label, xdist_args, args.pytest_args)
            runs.append(run)
            share = run.cpu / run.wall / cpus
            status = "" if run.returncode == 0 else f"  EXIT {run.returncode}"
            print(
                f"{run.label:<28} wall {run.wall:6.2f} s  cpu {run.cpu:6.2f} s  "
                f"({share:4.0%} of {cpus} CPUs)  {run.summary}{status}"
            )
    print(f"after:  {_load()}")

    medians = {label: statistics.median(r.wall for r in runs if r.label == label) for label, _ in kinds}
    for label, wall in medians.items():
        verdict = "within" if wall <= BUDGET_SECONDS else "OVER"
        print(f"median {label:<21} {wall:6.2f} s  ({verdict} the {BUDGET_SECONDS:.0f} s budget)")
    if len(kinds) == 2:
        serial, parallel = (medians[label] for label, _ in kinds)
        print(f"serial / parallel: {serial / parallel:.2f}x")
    return 0 if all(r.returncode == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
