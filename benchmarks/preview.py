"""Time `pulumi preview` on the real engine: production, and generated stacks of 6, 30 and 120
services, each with and without the policy pack.

Prints seconds per stack, seconds per added service (the slope between sizes), and the policy
pack's overhead as the ratio of preview time with the pack to preview time without it.
Run: `.venv/bin/python benchmarks/preview.py [--repeat N]`. Needs `azora tools install`.
Stacks run as throwaway copies in render mode (no cluster) with third-party charts left out,
so the figures measure the program, the engine, the provider and the pack.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

from azora.engine import ScratchStack, policy_args
from azora.toolchain import ensure_toolchain

SIZES = (6, 30, 120)


def generated(count: int) -> Callable[[dict[str, Any]], None]:
    """Production's settings with `count` services cloned from its `auth` service."""

    def edit(azora: dict[str, Any]) -> None:
        template = azora["services"]["auth"]
        services = {}
        for index in range(count):
            service = copy.deepcopy(template)
            service["port"] = 8000 + index
            service["talksTo"] = []
            services[f"svc-{index:03d}"] = service
        azora["services"] = services
        azora["skipCharts"] = True
        azora["renderDir"] = "/tmp/azora-bench-render"

    return edit


def production(azora: dict[str, Any]) -> None:
    azora["skipCharts"] = True
    azora["renderDir"] = "/tmp/azora-bench-render"


def time_previews(edit: Callable[[dict[str, Any]], None], repeat: int) -> tuple[float, float]:
    """Median seconds of a preview with the pack and without it, on one scratch stack."""
    toolchain = ensure_toolchain()
    with_pack, without = [], []
    with ScratchStack("production", toolchain, edit=edit) as scratch:
        scratch.handle.preview(color="never")  # warm plugins and the venv once
        for _ in range(repeat):
            started = time.monotonic()
            scratch.handle.preview(color="never", **policy_args("production"))
            with_pack.append(time.monotonic() - started)
            started = time.monotonic()
            scratch.handle.preview(color="never")
            without.append(time.monotonic() - started)
    return statistics.median(with_pack), statistics.median(without)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="previews per stack and mode (median is shown)")
    args = parser.parse_args()
    rows: list[tuple[str, int, float, float]] = []
    with_pack, without = time_previews(production, args.repeat)
    rows.append(("production", 6, with_pack, without))
    for size in SIZES:
        with_pack, without = time_previews(generated(size), args.repeat)
        rows.append((f"generated-{size}", size, with_pack, without))

    print(f"{'stack':<16}{'services':>9}{'with pack':>12}{'without':>10}{'pack ratio':>12}")
    for name, size, with_pack, without in rows:
        print(f"{name:<16}{size:>9}{with_pack:>11.1f}s{without:>9.1f}s{with_pack / without:>11.2f}x")
    generated_rows = [row for row in rows if row[0].startswith("generated")]
    for (_, small, small_with, small_without), (_, large, large_with, large_without) in zip(
        generated_rows, generated_rows[1:], strict=False
    ):
        added = large - small
        print(
            f"{small} -> {large} services: {(large_with - small_with) / added:.2f} s per added service with the pack, "
            f"{(large_without - small_without) / added:.2f} s without"
        )


if __name__ == "__main__":
    main()
