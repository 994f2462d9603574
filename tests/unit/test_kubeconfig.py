"""`azora:kubeconfig`: the provider the program builds for it, and the error when it is missing."""

from __future__ import annotations

from typing import Any

from tests.mocked_program import MOCK_KUBECONFIG, run_program


def test_local_stack_gets_a_provider_for_its_kubeconfig() -> None:
    run = run_program("local")
    assert run.error is None
    provider = run.named("pulumi:providers:kubernetes", "azora-cluster")
    assert provider.inputs["kubeconfig"] == str(MOCK_KUBECONFIG)


def test_a_relative_path_is_resolved_against_the_project_and_must_exist() -> None:
    def relative(raw: dict[str, Any]) -> None:
        raw["kubeconfig"] = ".azora/no-such-cluster/kubeconfig"

    run = run_program("local", relative)
    assert run.error is not None
    message = str(run.error)
    assert "Pulumi.local.yaml: azora:kubeconfig:" in message
    assert message.count("/.azora/no-such-cluster/kubeconfig does not exist") == 1
    assert "azora cluster up" in message
    assert run.resources == []  # refused before anything was registered


def test_render_mode_needs_no_kubeconfig() -> None:
    def render(raw: dict[str, Any]) -> None:
        raw["kubeconfig"] = "/nonexistent/kubeconfig"
        raw["renderDir"] = "/tmp/azora-render-unit"

    run = run_program("local", render)
    assert run.error is None
    providers = run.of_type("pulumi:providers:kubernetes")
    assert [p.name for p in providers] == ["azora-render"]
    assert "kubeconfig" not in providers[0].inputs


def test_staging_uses_the_ambient_kubeconfig() -> None:
    run = run_program("staging")
    assert run.error is None
    assert run.of_type("pulumi:providers:kubernetes") == []
