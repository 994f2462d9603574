"""HelmRelease: a third-party chart pinned by repository and version, values merged over defaults.

Two ways to install, chosen per release in config (`type`):
- `chart`: `kubernetes.helm.v4.Chart`. Pulumi renders the chart and tracks every object, so
  previews show per-object diffs and the policy pack checks each rendered object.
- `release`: `kubernetes.helm.v3.Release`. A real Helm release with history and atomic
  upgrades, for charts that rely on Helm hooks or that operators manage with `helm` too.
A `release` cannot be rendered to YAML (pulumi-kubernetes#1716), so in render mode it is
rendered as a `chart` instead, with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from azora.config.model import ChartSpec


def _copy(value: Any) -> Any:
    # Copy the structure only: leaves may be pulumi Outputs, which cannot be deep-copied.
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def merge_values(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge Helm values: mappings merge key by key, anything else in `overrides` wins."""
    merged: dict[str, Any] = _copy(defaults)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = _copy(value)
    return merged


class HelmReleaseArgs(TypedDict):
    chart: ChartSpec
    """The pinned chart and the stack's values for it."""
    namespace: str
    """Namespace the chart installs into (used when the ChartSpec names none)."""
    defaults: NotRequired[Mapping[str, Any]]
    """The component's default values; the ChartSpec's values are merged over them."""
    secret_values: NotRequired[Mapping[str, Any]]
    """Values holding Pulumi secrets (e.g. generated passwords), merged last."""
    render: NotRequired[bool]
    """True when the stack renders YAML instead of deploying (forces `chart`)."""
    skip: NotRequired[bool]
    """Register no chart at all: the stack's `azora:skipCharts` names this chart (or is true),
    e.g. when `azora render` cannot reach its repository; a warning says what was left out."""


class HelmRelease(pulumi.ComponentResource):
    """One third-party chart."""

    release_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    kind: pulumi.Output[str]

    def __init__(self, name: str, args: HelmReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("azora:helm:HelmRelease", name, None, opts)
        spec = args["chart"]
        namespace = spec.namespace or args["namespace"]
        values = merge_values(args.get("defaults", {}), spec.values)
        values = merge_values(values, args.get("secret_values", {}))
        kind: str = spec.type
        if kind == "release" and args.get("render", False):
            pulumi.log.warn(
                f"release {name!r}: helm.v3.Release cannot render to YAML; rendering it as helm.v4.Chart",
                resource=self,
            )
            kind = "chart"
        child = pulumi.ResourceOptions(parent=self)
        if args.get("skip", False):
            pulumi.log.warn(f"chart {spec.chart} {spec.version or ''} left out (skipCharts)", resource=self)
            kind = "skipped"
        # OCI charts are addressed as one reference; classic repositories by URL plus chart name.
        is_oci = bool(spec.repo and spec.repo.startswith("oci://"))
        chart_ref = f"{spec.repo.rstrip('/')}/{spec.chart}" if is_oci and spec.repo else spec.chart
        repository = k8s.helm.v3.RepositoryOptsArgs(repo=spec.repo) if spec.repo and not is_oci else None

        if kind == "skipped":
            pass
        elif kind == "chart":
            k8s.helm.v4.Chart(
                f"{name}-chart",
                name=name,
                chart=chart_ref,
                version=spec.version,
                namespace=namespace,
                repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=spec.repo) if repository is not None else None,
                values=values,
                opts=child,
            )
        else:
            k8s.helm.v3.Release(
                f"{name}-release",
                name=name,
                chart=chart_ref,
                version=spec.version,
                namespace=namespace,
                repository_opts=repository,
                values=values,
                atomic=True,
                cleanup_on_fail=True,
                max_history=10,
                opts=child,
            )

        self.release_name = pulumi.Output.from_input(name)
        self.namespace = pulumi.Output.from_input(namespace)
        self.kind = pulumi.Output.from_input(kind)
        self.register_outputs({"release_name": self.release_name, "namespace": self.namespace, "kind": self.kind})
