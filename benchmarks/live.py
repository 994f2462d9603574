"""Time the release workflow on the embedded cluster, end to end through the `azora` command:
`up` of the local stack from empty, a blue/green switch (`azora promote`) and a rollback
(`azora rollback`), against two floors: a plain `kubectl patch` of the Service selector, and the
engine alone (`pulumi up --skip-preview` with the policy pack, on the same stack, changing nothing).

Starts its own cluster in a temporary directory (stopped at the end, and after --lifetime in
any case) and a scratch copy of the local stack. With the real node (the default) the pods run
in containers, and every switch and rollback runs under steady load through the Service
(azora.traffic, --rate requests a second, each on a new connection): the report gives the rate
held and the failed requests. Aims: promote within 4 s, rollback within 5 s (the seeds'
rollback target was 2 minutes), no failed request.
Run: `.venv/bin/python benchmarks/live.py [--repeat 3] [--node real|simulated]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azora.cluster.api import Api
from azora.cluster.layout import REAL, SIMULATED, Layout
from azora.cluster.lifecycle import api_for, down, up
from azora.engine import POLICY_PACK, ScratchStack
from azora.toolchain import CLUSTER_GROUP, PULUMI_GROUP, ensure_toolchain
from azora.traffic import Traffic, summarize

AZORA = Path(sys.executable).parent / "azora"
NAMESPACE = "bench-live"
SERVICE = "payment"
SWITCH_AIM, ROLLBACK_AIM, SEED_ROLLBACK_TARGET = 4.0, 5.0, 120.0


def _colors(api: Api, service: str) -> set[str]:
    """Colours of the pods behind the Service's ready endpoints."""
    base = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
    slices = api.get(base, params={"labelSelector": f"kubernetes.io/service-name={service}"}) or {}
    colors = set()
    for piece in slices.get("items", []):
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready"):
                pod = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{endpoint['targetRef']['name']}") or {}
                colors.add(pod.get("metadata", {}).get("labels", {}).get("azora.io/color", "?"))
    return colors


def _until_serving(api: Api, color: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _colors(api, SERVICE) != {color}:
        if time.monotonic() > deadline:
            raise SystemExit(f"{SERVICE} never served only {color}")
        time.sleep(0.02)


def _timed(action: Callable[[], None], api: Api, color: str) -> tuple[float, float]:
    """(seconds until the action returned, seconds until only `color` serves)."""
    started = time.monotonic()
    action()
    returned = time.monotonic() - started
    _until_serving(api, color)
    return returned, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lifetime", type=float, default=1800, help="Stop the cluster after this many seconds.")
    parser.add_argument("--node", choices=(REAL, SIMULATED), default=REAL)
    parser.add_argument("--rate", type=float, default=60, help="Requests a second during switches (real node).")
    args = parser.parse_args()
    toolchain = ensure_toolchain(groups=(PULUMI_GROUP, CLUSTER_GROUP))
    layout = Layout(Path(tempfile.mkdtemp(prefix="azora-bench-live-")))
    started = time.monotonic()
    up(layout, toolchain.bin_dir, lifetime=args.lifetime, node=args.node)
    cluster_up = time.monotonic() - started
    api = api_for(layout)

    def target(azora: dict[str, Any]) -> None:
        azora["kubeconfig"] = str(layout.kubeconfig)
        azora["namespace"] = NAMESPACE

    scratch = ScratchStack("local", toolchain, edit=target)
    env = scratch.cli_env()

    def azora(*argv: str) -> Callable[[], None]:
        def run() -> None:
            done = subprocess.run([str(AZORA), *argv], env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"azora {' '.join(argv)} failed:\n{done.stderr}")

        return run

    kubectl = shutil.which("kubectl")
    loads = []

    def under_load(action: Callable[[], None], color: str) -> tuple[float, float]:
        """`_timed(action)` while `--rate` requests a second go through the Service (real node);
        the load starts a second before and stops two seconds after (the old colour's pods
        leave the rules), neither of which is timed."""
        if args.node != REAL:
            return _timed(action, api, color)
        service = api.get(f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}") or {}
        url = f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/"
        with Traffic(url, args.rate) as load:
            time.sleep(1.0)
            timed = _timed(action, api, color)
            time.sleep(2.0)
        loads.append(summarize(load.stop()))
        return timed

    def patch(color: str) -> Callable[[], None]:
        body = {"spec": {"selector": {"azora.io/color": color}}}
        if kubectl:
            argv = [kubectl, f"--kubeconfig={layout.kubeconfig}", "-n", NAMESPACE, "patch", "service", SERVICE]
            return lambda: subprocess.run([*argv, "-p", json.dumps(body)], check=True, capture_output=True) and None
        return lambda: api.patch(f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}", body) and None

    try:
        up_returned, _ = _timed(azora("up", "--stack", "local", "--yes", "--message", "release 1"), api, "blue")
        deploys, switches, rollbacks, floors = [], [], [], []
        for round_ in range(args.repeat):
            deploys.append(
                _timed(
                    azora(
                        "deploy",
                        "--stack",
                        "local",
                        "--service",
                        SERVICE,
                        "--version",
                        f"2.1.{round_}",
                        "--yes",
                        "--no-smoke",
                    ),
                    api,
                    "blue",
                )
            )
            # The floor: the same selector change by hand, there and back (both colours are up).
            floors.append(_timed(patch("green"), api, "green"))
            floors.append(_timed(patch("blue"), api, "blue"))
            promote = azora(
                "promote", "--stack", "local", "--service", SERVICE, "--yes", "--no-smoke", "--skip-analysis"
            )
            switches.append(under_load(promote, "green"))
            rollbacks.append(under_load(azora("rollback", "--stack", "local", "--yes"), "blue"))
        engine = []
        pulumi = [str(toolchain.bin_dir / "pulumi"), "up", "--yes", "--skip-preview", "--stack", "local"]
        for _ in range(args.repeat):
            started = time.monotonic()
            subprocess.run(
                [*pulumi, "--cwd", str(scratch.project_dir), "--policy-pack", str(POLICY_PACK)],
                env=scratch.env,
                check=True,
                capture_output=True,
            )
            engine.append(time.monotonic() - started)
    finally:
        scratch.close()
        down(layout, purge=True)

    def row(name: str, values: list[tuple[float, float]], aim: float | None = None) -> str:
        returned = statistics.median(v[0] for v in values)
        serving = statistics.median(v[1] for v in values)
        text = f"{name:<22} returns {returned:6.2f} s   traffic moved {serving:6.2f} s"
        return text + (f"   ({serving / aim:.2f} of the {aim:.0f} s aim)" if aim else "")

    floor = statistics.median(v[1] for v in floors)
    print(
        f"local stack (6 services, {NAMESPACE}), embedded cluster with a {args.node} node, file backend; "
        f"medians of {args.repeat}"
    )
    print(f"cluster up (cold start)  {cluster_up:6.2f} s")
    print(f"up from empty            {up_returned:6.2f} s")
    print(row("deploy (idle colour)", deploys))
    print(row("switch (azora promote)", switches, SWITCH_AIM))
    print(row("rollback", rollbacks, ROLLBACK_AIM))
    print(row("kubectl patch (floor)" if kubectl else "REST PATCH (floor)", floors))
    print(f"pulumi up, no change (engine floor) {statistics.median(engine):6.2f} s")
    switch = statistics.median(v[1] for v in switches)
    rollback = statistics.median(v[1] for v in rollbacks)
    print(f"ratio to the floor: switch {switch / floor:.1f}x, rollback {rollback / floor:.1f}x")
    print(
        f"azora's share over the engine: switch {switch - statistics.median(engine):+.2f} s, "
        f"rollback {rollback - statistics.median(engine):+.2f} s"
    )
    print(f"seeds' rollback target {SEED_ROLLBACK_TARGET:.0f} s: ours is {SEED_ROLLBACK_TARGET / rollback:.1f}x faster")
    if loads:
        held = statistics.median(load.rate for load in loads)
        failed = sum(load.failed for load in loads)
        total = sum(load.requests for load in loads)
        cuts = sum(1 for load in loads if len(load.versions) == 2)
        print(
            f"under load ({len(loads)} switches and rollbacks): {held:.1f} requests/s held (median), "
            f"{failed} of {total} requests failed, {cuts} of {len(loads)} were one clean cut"
        )


if __name__ == "__main__":
    main()
