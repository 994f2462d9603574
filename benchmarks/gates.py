"""Measure the metric gates of `azora promote` on the embedded cluster's real node, under steady
load through the active Service (azora.traffic, --rate requests a second, each on a new
connection), with the local stack's own Prometheus and its post-promotion gate (error ratio and
p95 latency of the new colour, azora:analysis in Pulumi.local.yaml):

- bad releases (the stand-in answering 5% 500s): the time from the first request the bad
  release answered to the last one (the automatic switch-back), and the bad responses users
  saw meanwhile. Aim: within 30 s;
- good releases (at least 20): every one must be verified; a switch-back or a hold is a false
  alarm. Aim: none.

Starts its own cluster in a temporary directory (stopped at the end, and after --lifetime in
any case) and a scratch copy of the local stack.
Run: `.venv/bin/python benchmarks/gates.py [--good 20] [--bad 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from azora.cluster.layout import REAL, Layout
from azora.cluster.lifecycle import api_for, down, up
from azora.engine import ScratchStack
from azora.toolchain import CLUSTER_GROUP, PULUMI_GROUP, ensure_toolchain
from azora.traffic import Sample, Traffic, summarize

AZORA = Path(sys.executable).parent / "azora"
NAMESPACE = "bench-gates"
SERVICE = "payment"
SWITCH_BACK_AIM = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=20, help="Good releases (false switch-backs are counted).")
    parser.add_argument("--bad", type=int, default=3, help="Releases answering 5%% 500s.")
    parser.add_argument("--rate", type=float, default=60)
    parser.add_argument("--lifetime", type=float, default=3600, help="Stop the cluster after this many seconds.")
    args = parser.parse_args()
    toolchain = ensure_toolchain(groups=(PULUMI_GROUP, CLUSTER_GROUP))
    layout = Layout(Path(tempfile.mkdtemp(prefix="azora-bench-gates-")))
    up(layout, toolchain.bin_dir, lifetime=args.lifetime, node=REAL)
    api = api_for(layout)

    def target(azora: dict[str, Any]) -> None:
        azora["kubeconfig"] = str(layout.kubeconfig)
        azora["namespace"] = NAMESPACE

    scratch = ScratchStack("local", toolchain, edit=target)
    env = scratch.cli_env()

    def azora(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AZORA), *argv], env=env, capture_output=True, text=True, check=False)

    def url() -> str:
        service = api.get(f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}") or {}
        return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/"

    def release(version: str) -> tuple[int, float, list[Sample], str]:
        """Deploy `version` to the idle colour, promote it under load: (exit code, seconds, samples)."""
        deployed = azora(
            "deploy", "--stack", "local", "--service", SERVICE, "--version", version, "--yes", "--no-smoke"
        )
        if deployed.returncode != 0:
            raise SystemExit(f"deploy {version} failed:\n{deployed.stderr}")
        time.sleep(1.0)  # the EndpointSlice follows the new pod's readiness a moment after
        with Traffic(url(), args.rate) as load:
            time.sleep(2.0)
            started = time.monotonic()
            promoted = azora("promote", "--stack", "local", "--service", SERVICE, "--yes")
            took = time.monotonic() - started
            time.sleep(2.0)
        return promoted.returncode, took, load.stop(), promoted.stderr

    good: list[tuple[int, float]] = []
    bad: list[tuple[float, int, int, int]] = []
    failed_during_good = 0
    try:
        done = azora("up", "--stack", "local", "--yes")
        if done.returncode != 0:
            raise SystemExit(f"up failed:\n{done.stderr}")
        for index in range(args.bad):
            version = f"9.0.{index}-errors-5pct"
            code, _, samples, stderr = release(version)
            served = [s for s in samples if s.version == version]
            if code != 3 or not served:
                raise SystemExit(f"bad release {version}: exit {code}, served {len(served)}:\n{stderr}")
            bad.append((served[-1].sent - served[0].sent, len(served), sum(1 for s in served if not s.ok), code))
            print(f"bad {version}: switched back {bad[-1][0]:.1f} s after its first answer", flush=True)
        for index in range(args.good):
            code, took, samples, stderr = release(f"3.{index}.0")
            good.append((code, took))
            failed_during_good += summarize(samples).failed
            print(f"good 3.{index}.0: exit {code} in {took:.1f} s", flush=True)
            if code not in (0, 3, 4):
                raise SystemExit(f"good release 3.{index}.0: exit {code}:\n{stderr}")
    finally:
        scratch.close()
        down(layout, purge=True)

    print(f"local stack ({NAMESPACE}), real node, {args.rate:.0f} requests a second through the active Service")
    if bad:
        windows = [b[0] for b in bad]
        print(
            f"bad releases (5% 500s): {len(bad)}, all switched back (exit 3); switch to switch-back: "
            f"median {statistics.median(windows):.1f} s, max {max(windows):.1f} s "
            f"({max(windows) / SWITCH_BACK_AIM:.2f} of the {SWITCH_BACK_AIM:.0f} s aim)"
        )
        print(
            f"  requests the bad release answered: median {statistics.median(b[1] for b in bad):.0f}, "
            f"of which 500s: median {statistics.median(b[2] for b in bad):.0f}, max {max(b[2] for b in bad)}"
        )
    if good:
        verified = sum(1 for code, _ in good if code == 0)
        switched = sum(1 for code, _ in good if code == 3)
        held = sum(1 for code, _ in good if code == 4)
        print(
            f"good releases: {len(good)}: {verified} verified, {switched} false switch-backs, {held} held; "
            f"promote took median {statistics.median(t for _, t in good):.1f} s; "
            f"{failed_during_good} requests failed meanwhile"
        )


if __name__ == "__main__":
    main()
