"""How fast is `azora policy check` on a realistic 10,000-resource input, and does it grow linearly?

    .venv/bin/python benchmarks/policy_check.py [--resources 10000] [--repeat 3] [--keep]

Generates namespaces, each with a default-deny NetworkPolicy and a set of apps (Deployment,
Service, PodDisruptionBudget, ConfigMap), as multi-document YAML files in a temporary
directory. Then times

- in-process: `read_manifests` and `evaluate`, separately and together;
- end to end: the installed `azora policy check --json DIR` as a subprocess (interpreter
  start-up, imports, reading, rules and JSON output), plus the same command on a single
  resource, which is the fixed cost of starting the command;

- scaling: `evaluate` (every rule) and the relation rules alone at a tenth of the resources and
  at all of them; the ratio of the medians is about 10 when they grow linearly (100 would be
  quadratic);

and prints seconds (best and median of the repetitions), resources per second and the ratio to
the 10 s budget. A plain script, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without relying on the editable install

from azora.manifests import read_manifests  # noqa: E402
from policy.rules import relations  # noqa: E402
from policy.rules.engine import evaluate  # noqa: E402

BUDGET_SECONDS = 10.0
AZORA = Path(sys.executable).parent / "azora"
APPS_PER_NAMESPACE = 12  # each app is 4 objects; each namespace adds its Namespace and policy


def _labels(app: str, namespace: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": namespace}


def _deployment(app: str, namespace: str, replicas: int, index: int) -> dict[str, Any]:
    container = {
        "name": app,
        "image": f"ghcr.io/azora/{app}:1.{index % 7}.{index % 13}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}}},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": namespace, "labels": _labels(app, namespace)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": {
                "metadata": {"labels": _labels(app, namespace)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
                        }
                    ],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def _app(app: str, namespace: str, index: int) -> list[dict[str, Any]]:
    meta = {"name": app, "namespace": namespace, "labels": _labels(app, namespace)}
    return [
        _deployment(app, namespace, replicas=1 + index % 3, index=index),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": app},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": app}}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{app}-settings", "namespace": namespace},
            "data": {"LOG_FORMAT": "json", "UPSTREAM_URL": f"http://{app}-upstream.{namespace}.svc:8080"},
        },
    ]


def generate(directory: Path, total: int) -> int:
    """Write about `total` objects, one directory and two multi-document files per namespace."""
    per_namespace = 2 + 4 * APPS_PER_NAMESPACE
    written = 0
    index = 0
    while written < total:
        namespace = f"team-{index // APPS_PER_NAMESPACE:02d}"
        folder = directory / namespace
        folder.mkdir()
        base = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": namespace},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
        ]
        apps: list[dict[str, Any]] = []
        room = min(per_namespace, total - written) - len(base)
        for _ in range(APPS_PER_NAMESPACE):
            if len(apps) + 4 > room:
                break
            apps += _app(f"svc-{index:04d}", namespace, index)
            index += 1
        (folder / "namespace.yaml").write_text(yaml.safe_dump_all(base, sort_keys=False))
        (folder / "apps.yaml").write_text(yaml.safe_dump_all(apps, sort_keys=False))
        written += len(base) + len(apps)
        if not apps:
            break
    return written


def timed(action: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return times, result


def line(label: str, times: list[float], count: int | None) -> str:
    """Best and median seconds; with a count, the rate and the share of the budget too."""
    best, median = min(times), statistics.median(times)
    text = f"{label:<38} best {best:7.3f} s  median {median:7.3f} s"
    if count is None:
        return text + "  (fixed start-up cost)"
    return (
        text
        + f"  {count / median:9,.0f} resources/s  {median / BUDGET_SECONDS:6.1%} of the {BUDGET_SECONDS:g} s budget"
    )


def run_cli(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(AZORA), "policy", "check", "--json", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"azora policy check failed ({done.returncode}): {done.stderr}")
    return {"exit": done.returncode, **json.loads(done.stdout)}


def _relation_findings(resources: list[Any]) -> list[Any]:
    fresh = list(resources)  # a new set: its index is built here, not reused from an earlier call
    return [finding for rule in relations.RULES for finding in rule.check(fresh, {})]


def scaling(workdir: Path, total: int, repeat: int) -> None:
    """Seconds of every rule, and of the relation rules alone, at total/10 and total resources."""
    medians: dict[str, list[float]] = {"evaluate": [], "relation rules": []}
    for size in (total // 10, total):
        directory = workdir / f"scaling-{size}"
        directory.mkdir()
        count = generate(directory, size)
        resources = read_manifests([directory])
        for label, action in (("evaluate", evaluate), ("relation rules", _relation_findings)):
            times, _ = timed(functools.partial(action, resources), repeat)
            medians[label].append(statistics.median(times))
            print(line(f"{label}, {count}", times, count))
    for label, (small, large) in medians.items():
        print(f"{label}: {total // 10} -> {total} resources takes {large / max(small, 1e-9):.1f}x (linear: 10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated manifests")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="azora-policy-bench-"))
    try:
        manifests = workdir / "manifests"
        manifests.mkdir()
        count = generate(manifests, args.resources)
        single = workdir / "single.yaml"
        single.write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}})
        )
        files = sorted(manifests.rglob("*.yaml"))
        size = sum(f.stat().st_size for f in files)
        print(f"{count} resources in {len(files)} files ({size / 1e6:.1f} MB) under {manifests}")
        print(f"python {sys.version.split()[0]}, {args.repeat} repetitions each\n")

        read_times, resources = timed(lambda: read_manifests([manifests]), args.repeat)
        eval_times, violations = timed(lambda: evaluate(resources), args.repeat)
        both_times, _ = timed(lambda: evaluate(read_manifests([manifests])), args.repeat)
        assert len(resources) == count, (len(resources), count)
        mandatory = sum(1 for v in violations if v.enforcement == "mandatory")
        print(line("read_manifests", read_times, count))
        print(line("evaluate", eval_times, count))
        print(line("read_manifests + evaluate", both_times, count))
        print()
        scaling(workdir, args.resources, args.repeat)
        print()

        if not AZORA.exists():
            print(f"\n{AZORA} not found: skipping the end-to-end timing")
            return
        start_times, _ = timed(lambda: run_cli(single), args.repeat)
        cli_times, outcome = timed(lambda: run_cli(manifests), args.repeat)
        assert outcome["resources"] == count, outcome["resources"]
        print(line("azora policy check --json, 1 resource", start_times, None))
        print(line(f"azora policy check --json, {count}", cli_times, count))
        print(
            f"\n{len(violations)} violations ({mandatory} mandatory); command exit code {outcome['exit']}; "
            f"start-up is {statistics.median(start_times) / statistics.median(cli_times):.0%} of the end-to-end time"
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
