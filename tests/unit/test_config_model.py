"""The stack config model: the three stack files, defaults, and every rejection rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azora.config.errors import ConfigError
from azora.config.load import load_stack_file, read_stack_file, validate_raw
from azora.config.model import StackConfig

ROOT = Path(__file__).resolve().parents[2]


def staging_raw() -> dict[str, Any]:
    raw, _ = read_stack_file(ROOT / "Pulumi.staging.yaml")
    return copy.deepcopy(raw)


def problems_after(edit: Callable[[dict[str, Any]], None]) -> list[str]:
    raw = staging_raw()
    edit(raw)
    with pytest.raises(ConfigError) as caught:
        validate_raw(raw, "Pulumi.staging.yaml")
    return str(caught.value).splitlines()


def test_the_three_stack_files_are_valid() -> None:
    local = load_stack_file(ROOT / "Pulumi.local.yaml")
    staging = load_stack_file(ROOT / "Pulumi.staging.yaml")
    production = load_stack_file(ROOT / "Pulumi.production.yaml")
    assert (local.environment, local.namespace) == ("local", "azora-local")
    assert (staging.namespace, production.namespace) == ("azora-staging", "azora-production")
    services = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]
    for config in (local, staging, production):
        assert list(config.services) == services
    assert {s.replicas for s in local.services.values()} == {1}
    assert {s.replicas for s in staging.services.values()} == {2}
    assert all(s.replicas >= 3 and s.autoscaling is not None for s in production.services.values())
    assert production.monitoring.enabled and production.monitoring.alerts.enabled
    assert local.monitoring.enabled and local.monitoring.prometheus.mode == "embedded"
    assert not local.monitoring.alerts.enabled and not local.monitoring.logs.enabled


def test_defaults_are_applied_in_one_place() -> None:
    local = load_stack_file(ROOT / "Pulumi.local.yaml")
    production = load_stack_file(ROOT / "Pulumi.production.yaml")
    web = production.services["web"]
    assert web.preview_replicas is None
    assert production.preview_replicas_default == 1 and local.preview_replicas_default == 0
    assert production.replicas_for("web", "green") == 1 and production.replicas_for("web", "blue") == 3
    assert local.replicas_for("web", "green") == 0
    assert production.status_of("web").active_color == "blue" and production.status_of("web").idle_scaled_up is False
    assert web.scale_down_delay_seconds == 30 and web.auto_promotion is False
    assert production.pod_security == "restricted"
    assert production.monitoring_namespace == "azora-production-monitoring"
    assert production.host_for("web") == "azora.example"
    assert production.host_for("api-gateway") == "api.azora.example"
    assert production.host_for("auth") is None


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _delete(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        node: Any = raw
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


REJECTIONS = [
    (
        "unknown key",
        _set(("services", "payment", "replicaz"), 3),
        "azora:services.payment.replicaz: unknown key (did you mean 'replicas'?)",
    ),
    ("unknown top-level key", _set(("servics",), {}), "azora:servics: unknown key (did you mean 'services'?)"),
    (
        "wrong type",
        _set(("services", "payment", "port"), "8083"),
        "azora:services.payment.port: must be an integer, got the string '8083'",
    ),
    (
        "unquoted version",
        _set(("services", "web", "versions", "blue"), 2.3),
        "azora:services.web.versions.blue: must be a string, got the number 2.3 (quote it)",
    ),
    (
        "colour other than blue/green",
        _set(("status", "web", "activeColor"), "red"),
        "azora:status.web.activeColor: must be one of 'blue' or 'green', got 'red'",
    ),
    (
        "status of a service that does not exist",
        _set(("status", "webb"), {"activeColor": "blue"}),
        "azora:status.webb: is not a service (services: api-gateway, auth, education, marketplace, payment, web)",
    ),
    (
        "promotion time that is not a time",
        _set(("status", "web", "promotedAt"), "yesterday"),
        "azora:status.web.promotedAt: must be an ISO 8601 time, got 'yesterday'",
    ),
    (
        "version key colour",
        _set(("services", "web", "versions"), {"blue": "1.0.0", "purple": "1.0.1"}),
        "azora:services.web.versions.purple: must be one of 'blue' or 'green', got 'purple'",
    ),
    (
        "active colour without version",
        _set(("services", "web", "versions"), {"green": "1.0.0"}),
        "azora:status.web.activeColor: 'blue' has no entry in services.web.versions (has: green)",
    ),
    (
        "port above range",
        _set(("services", "auth", "port"), 70000),
        "azora:services.auth.port: must be <= 65535, got 70000",
    ),
    ("port zero", _set(("services", "auth", "port"), 0), "azora:services.auth.port: must be >= 1, got 0"),
    (
        "replicas below 1",
        _set(("services", "payment", "replicas"), 0),
        "Pulumi.staging.yaml: azora:services.payment.replicas: must be >= 1, got 0",
    ),
    (
        "healthPath without slash",
        _set(("services", "auth", "healthPath"), "health"),
        "azora:services.auth.healthPath: must start with '/', got 'health'",
    ),
    (
        "service name not DNS-1123",
        lambda raw: raw["services"].__setitem__("Pay_Ment", raw["services"]["payment"]),
        "azora:services.Pay_Ment: service name 'Pay_Ment' is not a DNS-1123 label",
    ),
    (
        "namespace not DNS-1123",
        _set(("namespace",), "Azora.Staging"),
        "azora:namespace: namespace 'Azora.Staging' is not a DNS-1123 label",
    ),
    (
        "cpu limit below request",
        _set(("services", "auth", "resources", "limits", "cpu"), "50m"),
        "azora:services.auth.resources.limits.cpu: limit 50m is below the request 100m",
    ),
    (
        "memory limit below request",
        _set(("services", "auth", "resources", "limits", "memory"), "128Mi"),
        "azora:services.auth.resources.limits.memory: limit 128Mi is below the request 256Mi",
    ),
    (
        "autoscaling min above max",
        _set(("services", "web", "autoscaling"), {"minReplicas": 5, "maxReplicas": 2}),
        "azora:services.web.autoscaling.maxReplicas: must be >= minReplicas (5), got 2",
    ),
    ("services not a mapping", _set(("services",), ["web", "auth"]), "azora:services: must be a mapping, got a list"),
    (
        "one service not a mapping",
        _set(("services", "auth"), "yes"),
        "azora:services.auth: must be a mapping, got the string 'yes'",
    ),
    ("missing required key", _delete(("services", "auth", "image")), "azora:services.auth.image: is required"),
    (
        "image with a tag",
        _set(("services", "auth", "image"), "ghcr.io/azora/auth:1.0"),
        "azora:services.auth.image: must be a repository without tag or digest",
    ),
    (
        "bad quantity",
        _set(("services", "auth", "resources", "requests", "cpu"), "lots"),
        "azora:services.auth.resources.requests.cpu: must be a Kubernetes quantity",
    ),
    (
        "talksTo unknown peer",
        _set(("services", "web", "talksTo"), ["api-gateway", "billing"]),
        "azora:services.web.talksTo[1]: 'billing' is not a service or an enabled data store",
    ),
    (
        "chart version range",
        _set(("releases", "ingress-nginx", "version"), "^4.11"),
        "azora:releases.ingress-nginx.version: must be an exact version such as 1.2.3, not a range: '^4.11'",
    ),
    (
        "environment",
        _set(("environment",), "prod"),
        "azora:environment: must be one of 'local', 'staging' or 'production', got 'prod'",
    ),
    (
        "plaintext secret",
        _set(("sentryDsn",), "https://key@sentry.example/1"),
        "azora:sentryDsn: must be stored as a secret: pulumi config set --secret azora:sentryDsn <value>",
    ),
    (
        "external store without URL",
        _set(("postgresql",), {"mode": "external"}),
        "azora:postgresqlUrl: is required when postgresql.mode is external",
    ),
]


@pytest.mark.parametrize(("case", "edit", "expected"), REJECTIONS, ids=[c[0] for c in REJECTIONS])
def test_each_rule_rejects_its_bad_input_naming_the_key(
    case: str, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    lines = problems_after(edit)
    assert all(line.startswith("Pulumi.staging.yaml: azora:") for line in lines), lines
    assert any(expected in line for line in lines), f"{expected!r} not in {lines}"


def test_all_problems_are_reported_at_once() -> None:
    def break_three(raw: dict[str, Any]) -> None:
        raw["services"]["payment"]["replicas"] = 0
        raw["services"]["auth"]["port"] = 99999
        raw["namespace"] = "Bad_Name"

    lines = problems_after(break_three)
    assert len(lines) == 3
    assert {line.split(": ")[1] for line in lines} == {
        "azora:services.payment.replicas",
        "azora:services.auth.port",
        "azora:namespace",
    }


def test_problems_from_a_file_carry_the_line(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.staging.yaml").read_text().replace("replicas: 2", "replicas: 0", 1)
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if "replicas: 0" in line)
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    assert str(caught.value) == (
        f"Pulumi.broken.yaml: azora:services.web.replicas: must be >= 1, got 0 (line {line_no})"
    )


def test_a_file_that_is_not_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  azora:environment: local\n  azora:services: {web: [\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    message = str(caught.value)
    assert message.startswith("Pulumi.bad.yaml: config: not valid YAML")
    assert "(line 4)" in message


def test_secure_values_become_secret_markers() -> None:
    production = load_stack_file(ROOT / "Pulumi.production.yaml")
    assert production.sentry_dsn is not None and production.sentry_dsn.key == "sentryDsn"
    assert isinstance(production, StackConfig)


def test_scalars_pulumi_stores_as_strings_decode_to_what_the_model_expects() -> None:
    from azora.config.load import decode_config_value

    assert decode_config_value("skipCharts", "true") is True  # a `bool | list[str]` field
    assert decode_config_value("skipCharts", '["redis.chart"]') == ["redis.chart"]
    assert decode_config_value("environment", "true") == "true"  # a string field stays a string


def test_malformed_release_state_is_reported_not_crashed_on() -> None:
    raw, _ = read_stack_file(ROOT / "Pulumi.staging.yaml")
    raw["status"] = {"web": "green"}
    raw["services"]["web"]["activeColor"] = "green"
    with pytest.raises(ConfigError) as refused:
        validate_raw(raw, "Pulumi.staging.yaml")
    assert "Pulumi.staging.yaml: azora:status.web: must be a mapping, got the string 'green'" in str(refused.value)

    raw, _ = read_stack_file(ROOT / "Pulumi.staging.yaml")
    raw["status"]["web"]["promotedAt"] = "2026-12-01T12:00:00"
    with pytest.raises(ConfigError, match=r"azora:status.web.promotedAt: must include a UTC offset"):
        validate_raw(raw, "Pulumi.staging.yaml")
