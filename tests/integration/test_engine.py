"""The real Pulumi engine, the real Kubernetes provider and the policy pack, per stack.

Each stack runs as a throwaway copy (temporary project and `file://` backend, removed
afterwards) in render mode, so no cluster is needed. Third-party charts point at the local
test chart in `tests/charts/`, so nothing is fetched; the real stacks keep their pins.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pulumi import automation as auto

from azora.engine import ScratchStack, policy_args, policy_findings
from azora.manifests import read_manifests
from azora.toolchain import Toolchain
from policy.rules.engine import evaluate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEST_CHART = str(ROOT / "tests" / "charts" / "stand-in")
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]
KUBERNETES_VERSION = "1.33.0"


def offline_charts(azora: dict[str, Any]) -> None:
    """Point every third-party chart of the stack at the local test chart."""

    def local(spec: dict[str, Any] | None) -> dict[str, Any]:
        spec = dict(spec or {})
        spec.pop("repo", None)
        spec.pop("version", None)
        spec["chart"] = TEST_CHART
        return spec

    for name, spec in (azora.get("releases") or {}).items():
        azora["releases"][name] = local(spec)
    for store in ("postgresql", "redis"):
        if isinstance(azora.get(store), dict):
            azora[store]["chart"] = local(azora[store].get("chart"))
    monitoring = azora.setdefault("monitoring", {})
    for part in ("prometheus", "logs", "tracing"):
        section = monitoring.setdefault(part, {})
        section["chart"] = local(section.get("chart"))


class Rendered:
    """One stack brought up once in render mode, shared by the tests of that stack."""

    def __init__(self, stack: str, toolchain: Toolchain, tmp: Path):
        self.out = tmp / "manifests"
        self.out.mkdir()

        def edit(azora: dict[str, Any]) -> None:
            offline_charts(azora)
            azora["renderDir"] = str(self.out)

        self.scratch = ScratchStack(stack, toolchain, edit=edit)
        self.stack = stack
        self.events: list[auto.events.EngineEvent] = []
        self.preview = self.scratch.handle.preview(on_event=self.events.append, color="never", **policy_args(stack))
        self.up = self.scratch.handle.up(color="never", **policy_args(stack))

    def objects(self) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = []
        for path in sorted(self.out.rglob("*.yaml")):
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        return documents


@pytest.fixture(scope="module", params=["local", "staging", "production"])
def rendered(
    request: pytest.FixtureRequest, toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rendered]:
    stack = request.param
    result = Rendered(stack, toolchain, tmp_path_factory.mktemp(f"render-{stack}"))
    try:
        yield result
    finally:
        result.scratch.close()


def test_preview_with_the_policy_pack_passes(rendered: Rendered) -> None:
    creates = rendered.preview.change_summary.get(auto.OpType.CREATE, 0)
    assert creates > 40
    mandatory = [f for f in policy_findings(rendered.events) if f.enforcement == "mandatory"]
    assert mandatory == []
    assert rendered.up.summary.result == "succeeded"


def test_render_writes_valid_manifests_that_pass_policy_check(rendered: Rendered) -> None:
    objects = rendered.objects()
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for service in SERVICES:
        assert ("Deployment", f"{service}-blue") in kinds
        assert ("Deployment", f"{service}-green") in kinds
        assert ("Service", service) in kinds and ("Service", f"{service}-preview") in kinds
    validated, custom = 0, set()
    for document in objects:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError:
            # Custom resources (ServiceMonitor, PrometheusRule) have no built-in schema.
            custom.add(document["kind"])
    assert validated >= 40
    assert custom <= {"ServiceMonitor", "PrometheusRule"}
    resources = read_manifests([rendered.out])
    mandatory = [v for v in evaluate(resources) if v.enforcement == "mandatory"]
    assert mandatory == []


def test_a_second_preview_shows_no_changes(rendered: Rendered) -> None:
    result = rendered.scratch.handle.preview(expect_no_changes=True, color="never", **policy_args(rendered.stack))
    assert set(result.change_summary) == {auto.OpType.SAME}


def test_history_lists_the_updates(rendered: Rendered) -> None:
    history = rendered.scratch.handle.history()
    assert [entry.kind for entry in history] == ["update"]
    assert history[0].result == "succeeded"
    assert history[0].resource_changes and history[0].resource_changes.get("create", 0) > 40


def _flip(stack: ScratchStack, service: str) -> None:
    status = stack.azora_config()["status"]
    current = status[service]["activeColor"]
    status[service]["activeColor"] = "green" if current == "blue" else "blue"
    stack.set_azora("status", status)


def test_switching_active_color_previews_as_only_the_two_selectors(toolchain: Toolchain, tmp_path: Path) -> None:
    def edit(azora: dict[str, Any]) -> None:
        offline_charts(azora)
        azora["renderDir"] = str(tmp_path / "manifests")
        # Both colours at full size: the switch itself is a pure selector change.
        azora["status"]["payment"]["idleScaledUp"] = True

    with ScratchStack("staging", toolchain, edit=edit) as scratch:
        scratch.handle.up(color="never", **policy_args("staging"))
        _flip(scratch, "payment")
        events: list[auto.events.EngineEvent] = []
        scratch.handle.preview(diff=True, on_event=events.append, color="never", **policy_args("staging"))
    changes = {}
    for event in events:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op != auto.OpType.SAME:
            changes[pre.metadata.urn.rsplit("::", 1)[-1]] = (pre.metadata.op, sorted(pre.metadata.diffs or []))
    assert {name: op for name, (op, _) in changes.items()} == {
        "payment-active": auto.OpType.UPDATE,
        "payment-preview": auto.OpType.UPDATE,
    }
    for name in ("payment-active", "payment-preview"):
        detailed = next(
            e.resource_pre_event.metadata.detailed_diff
            for e in events
            if e.resource_pre_event is not None and e.resource_pre_event.metadata.urn.endswith(f"::{name}")
        )
        assert set(detailed or {}) == {'spec.selector["azora.io/color"]'}


def test_a_policy_breaking_change_fails_the_preview_naming_the_rule(toolchain: Toolchain, tmp_path: Path) -> None:
    def edit(azora: dict[str, Any]) -> None:
        offline_charts(azora)
        azora["renderDir"] = str(tmp_path / "manifests")
        azora["services"]["web"]["versions"]["blue"] = "latest"

    events: list[auto.events.EngineEvent] = []
    with ScratchStack("production", toolchain, edit=edit) as scratch, pytest.raises(auto.errors.CommandError):
        scratch.handle.preview(on_event=events.append, color="never", **policy_args("production"))
    mandatory = [f for f in policy_findings(events) if f.enforcement == "mandatory"]
    assert {f.policy for f in mandatory} == {"image-tag-pinned"}
    assert "ghcr.io/azora/web:latest" in mandatory[0].message
