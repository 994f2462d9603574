"""Time the release workflow on the local backend: promote and rollback, against the seeds'
targets (rollback under 2 minutes; we aim for under 20 s).

Runs on a scratch copy of the staging stack in render mode (real engine and provider, no
cluster), so the figures are the engine's share of a promote or rollback; on a cluster add
the time the new colour takes to become ready. Run: `.venv/bin/python benchmarks/release.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from azora import release, rollback
from azora.engine import ScratchStack
from azora.toolchain import ensure_toolchain

SEED_ROLLBACK_TARGET = 120.0
OUR_ROLLBACK_AIM = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    render_dir = tempfile.mkdtemp(prefix="azora-bench-release-")

    def edit(azora: dict[str, Any]) -> None:
        azora["renderDir"] = render_dir
        azora["skipCharts"] = True

    promotes, rollbacks, deploys = [], [], []
    with ScratchStack("staging", ensure_toolchain(), edit=edit) as scratch:
        release.apply(scratch, "baseline")
        for round_ in range(args.repeat):
            started = time.monotonic()
            release.deploy(scratch, "payment", f"2.1.{round_}")
            deploys.append(time.monotonic() - started)
            started = time.monotonic()
            release.promote(scratch, "payment")
            promotes.append(time.monotonic() - started)
            started = time.monotonic()
            rollback.rollback(scratch, rollback.plan_rollback(scratch))
            rollbacks.append(time.monotonic() - started)

    def line(name: str, values: list[float], target: float | None = None) -> str:
        median = statistics.median(values)
        text = f"{name:<10} median {median:6.1f} s  best {min(values):6.1f} s"
        if target:
            text += f"  ({median / target:.2f} of {target:.0f} s)"
        return text

    print(f"staging (6 services), {args.repeat} rounds, render mode, file backend")
    print(line("deploy", deploys))
    print(line("promote", promotes))
    print(line("rollback", rollbacks, OUR_ROLLBACK_AIM))
    print(
        f"seeds' rollback target {SEED_ROLLBACK_TARGET:.0f} s: ours is "
        f"{SEED_ROLLBACK_TARGET / statistics.median(rollbacks):.1f}x faster"
    )


if __name__ == "__main__":
    main()
