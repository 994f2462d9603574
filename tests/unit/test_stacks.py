"""The real program under mocks, once per stack: what each stack registers and exports."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import mocked_stack
from tests.mocked_program import SECRET_SIG, ProgramRun, Registration, run_program, secret_for, stack_config

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def _kubernetes_counts(run: ProgramRun) -> dict[str, int]:
    return dict(Counter(r.type for r in run.resources))


EXPECTED_COUNTS = {
    "local": {
        "azora:platform:AzoraPlatform": 1,
        # the embedded cluster's kubeconfig (azora:kubeconfig)
        "pulumi:providers:kubernetes": 1,
        # the app's and monitoring's
        "azora:namespace:Namespace": 2,
        "kubernetes:core/v1:Namespace": 2,
        "kubernetes:core/v1:ResourceQuota": 1,
        "kubernetes:core/v1:LimitRange": 2,
        # app: default deny, DNS, one per service; monitoring: default deny, DNS, within
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 11,
        "azora:deploy:BlueGreenService": 6,
        # the blue/green pairs and the embedded Prometheus (its account, discovery Role and config)
        DEPLOYMENT: 13,
        "kubernetes:policy/v1:PodDisruptionBudget": 6,
        SERVICE: 13,
        "kubernetes:networking.k8s.io/v1:Ingress": 2,
        "azora:monitoring:MonitoringStack": 1,
        "azora:monitoring:EmbeddedPrometheus": 1,
        "kubernetes:core/v1:ServiceAccount": 1,
        "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
        "kubernetes:core/v1:ConfigMap": 1,
    },
    "staging": {
        "azora:platform:AzoraPlatform": 1,
        # app, ingress-nginx, cert-manager, monitoring
        "azora:namespace:Namespace": 4,
        "kubernetes:core/v1:Namespace": 4,
        "kubernetes:core/v1:ResourceQuota": 1,
        "kubernetes:core/v1:LimitRange": 4,
        # app: deny + DNS + 6 services + postgresql + redis; 3 platform namespaces: 3 each
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 20,
        # ingress-nginx, cert-manager, postgresql, redis, prometheus, otel
        "azora:helm:HelmRelease": 6,
        "kubernetes:helm.sh/v4:Chart": 5,
        "kubernetes:helm.sh/v3:Release": 1,
        # grafana admin, postgresql, redis
        "random:index/randomPassword:RandomPassword": 3,
        "azora:monitoring:MonitoringStack": 1,
        "azora:deploy:BlueGreenService": 6,
        DEPLOYMENT: 12,
        "kubernetes:policy/v1:PodDisruptionBudget": 6,
        # the services that talk to a data store
        "kubernetes:core/v1:Secret": 4,
        SERVICE: 12,
        "kubernetes:networking.k8s.io/v1:Ingress": 2,
        "kubernetes:core/v1:ConfigMap": 6,
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 6,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule": 6,
    },
    "production": {
        "azora:platform:AzoraPlatform": 1,
        "azora:namespace:Namespace": 4,
        "kubernetes:core/v1:Namespace": 4,
        "kubernetes:core/v1:ResourceQuota": 1,
        "kubernetes:core/v1:LimitRange": 4,
        # app: deny + DNS + 6 services; 3 platform namespaces
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 18,
        # ingress-nginx, cert-manager, prometheus, loki, otel (data stores are managed)
        "azora:helm:HelmRelease": 5,
        "kubernetes:helm.sh/v4:Chart": 4,
        "kubernetes:helm.sh/v3:Release": 1,
        "random:index/randomPassword:RandomPassword": 1,
        "azora:monitoring:MonitoringStack": 1,
        "azora:deploy:BlueGreenService": 6,
        DEPLOYMENT: 12,
        "kubernetes:policy/v1:PodDisruptionBudget": 6,
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 6,
        # every service gets SENTRY_DSN
        "kubernetes:core/v1:Secret": 6,
        SERVICE: 12,
        "kubernetes:networking.k8s.io/v1:Ingress": 2,
        "kubernetes:core/v1:ConfigMap": 6,
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 6,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule": 6,
    },
}


@pytest.mark.parametrize("stack", list(EXPECTED_COUNTS))
def test_resource_counts_by_type(stack: str) -> None:
    assert _kubernetes_counts(mocked_stack(stack)) == EXPECTED_COUNTS[stack]


def _containers(deployment: Registration) -> list[dict[str, Any]]:
    return deployment.inputs["spec"]["template"]["spec"]["containers"]


def _app(resources: list[Registration]) -> list[Registration]:
    """The blue/green services' objects (not the embedded Prometheus)."""
    return [r for r in resources if r.inputs["metadata"]["labels"].get("app.kubernetes.io/component") == "service"]


def test_every_deployment_is_limited_probed_and_restricted(stack_run: ProgramRun) -> None:
    deployments = _app(stack_run.of_type(DEPLOYMENT))
    assert len(deployments) == 12
    for deployment in deployments:
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in _containers(deployment):
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert container["livenessProbe"]["httpGet"]["port"] == "http"
            assert container["readinessProbe"]["httpGet"]["path"].startswith("/")
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["privileged"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_deployments_keep_the_provider_await_and_services_rely_on_the_graph(stack_run: ProgramRun) -> None:
    for deployment in stack_run.of_type(DEPLOYMENT):
        assert "pulumi.com/skipAwait" not in (deployment.inputs["metadata"].get("annotations") or {})
    services = _app(stack_run.of_type(SERVICE))
    assert len(services) == 12
    for service in services:
        assert service.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
        # ...because each one waits, in the graph, for the Deployment it selects.
        color = service.inputs["spec"]["selector"]["azora.io/color"]
        name = service.inputs["metadata"]["labels"]["app.kubernetes.io/name"]
        target = stack_run.named(DEPLOYMENT, f"{name}-{color}")
        assert [d.rsplit("::", 1)[-1] for d in service.dependencies] == [target.name]


def test_probes_use_each_services_health_path() -> None:
    run = mocked_stack("staging")
    web = run.named(DEPLOYMENT, "web-blue")
    auth = run.named(DEPLOYMENT, "auth-green")
    assert _containers(web)[0]["readinessProbe"]["httpGet"]["path"] == "/api/health"
    assert _containers(auth)[0]["livenessProbe"]["httpGet"]["path"] == "/health"


def test_each_colour_runs_its_version_and_replica_count() -> None:
    run = mocked_stack("staging")
    blue = run.named(DEPLOYMENT, "web-blue")
    green = run.named(DEPLOYMENT, "web-green")
    assert _containers(blue)[0]["image"] == "ghcr.io/azora/web:2.3.1"
    assert _containers(green)[0]["image"] == "ghcr.io/azora/web:2.4.0"
    # blue is active (2 replicas); green idles at staging's preview default of 1
    assert (blue.inputs["spec"]["replicas"], green.inputs["spec"]["replicas"]) == (2, 1)
    local = mocked_stack("local")
    assert local.named(DEPLOYMENT, "web-green").inputs["spec"]["replicas"] == 0


def test_a_long_image_tag_becomes_a_valid_version_label() -> None:
    tag = "2.5.0-rc.1_" + "a" * 51 + ".build7"  # a valid 69-character image tag

    def long_tag(raw: dict[str, Any]) -> None:
        raw["services"]["payment"]["versions"]["green"] = tag

    run = run_program("local", long_tag)
    assert run.error is None
    green = run.named(DEPLOYMENT, "payment-green")
    assert _containers(green)[0]["image"] == f"ghcr.io/azora/payment:{tag}"
    label = green.inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"]
    # Helm's `trunc 63 | trimSuffix`: the first 63 characters end in ".", which goes
    assert label == "2.5.0-rc.1_" + "a" * 51
    assert len(label) == 62
    assert green.inputs["metadata"]["labels"]["app.kubernetes.io/version"] == label
    assert {"name": "AZORA_VERSION", "value": tag} in _containers(green)[0]["env"]


def test_active_service_selects_configured_colour_and_preview_the_other(stack_run: ProgramRun) -> None:
    for name in SERVICES:
        active = stack_run.named(SERVICE, f"{name}-active")
        preview = stack_run.named(SERVICE, f"{name}-preview")
        assert active.inputs["metadata"]["name"] == name
        assert preview.inputs["metadata"]["name"] == f"{name}-preview"
        assert active.inputs["spec"]["selector"] == {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/part-of": "azora",
            "azora.io/color": "blue",
        }
        assert preview.inputs["spec"]["selector"]["azora.io/color"] == "green"


def test_switch_only_moves_after_the_target_is_ready_in_the_graph() -> None:
    run = mocked_stack("production")
    urn_of = {r.name: r for r in run.resources}
    active = run.named(SERVICE, "payment-active")
    idle = run.named(DEPLOYMENT, "payment-green")
    preview = run.named(SERVICE, "payment-preview")
    assert [d.rsplit("::", 1)[-1] for d in active.dependencies] == ["payment-blue"]
    assert [d.rsplit("::", 1)[-1] for d in idle.dependencies] == ["payment-active"]
    assert [d.rsplit("::", 1)[-1] for d in preview.dependencies] == ["payment-green"]
    assert urn_of["payment-blue"].type == DEPLOYMENT


def _flip(service: str) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        status = raw["status"][service]
        status["activeColor"] = "green" if status["activeColor"] == "blue" else "blue"

    return edit


def _differences(before: ProgramRun, after: ProgramRun) -> dict[tuple[str, str], list[str]]:
    """Per resource, the input paths whose values differ (what a preview would show as updates)."""
    left, right = before.by_key(), after.by_key()
    assert left.keys() == right.keys(), "a switch must not add or remove resources"
    changed: dict[tuple[str, str], list[str]] = {}
    for key, old in left.items():
        new = right[key]
        paths = sorted(_diff_paths(old.inputs, new.inputs, ""))
        if paths:
            changed[key] = paths
    return changed


def _diff_paths(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict) and SECRET_SIG not in a:
        paths: list[str] = []
        for key in sorted(set(a) | set(b)):
            paths += _diff_paths(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        return paths
    return [] if a == b else [prefix]


def test_switching_active_color_changes_only_selectors_and_replicas() -> None:
    before = mocked_stack("staging")
    after = run_program("staging", _flip("payment"))
    assert after.error is None
    assert _differences(before, after) == {
        (SERVICE, "payment-active"): ["spec.selector.azora.io/color"],
        (SERVICE, "payment-preview"): ["spec.selector.azora.io/color"],
        (DEPLOYMENT, "payment-blue"): ["spec.replicas"],
        (DEPLOYMENT, "payment-green"): ["spec.replicas"],
    }


def test_switching_a_scaled_up_idle_colour_changes_only_the_two_selectors() -> None:
    def scaled(raw: dict[str, Any]) -> None:
        raw["status"]["payment"]["idleScaledUp"] = True

    before = run_program("staging", scaled)
    after = run_program("staging", lambda raw: (scaled(raw), _flip("payment")(raw)))
    assert before.error is None and after.error is None
    assert _differences(before, after) == {
        (SERVICE, "payment-active"): ["spec.selector.azora.io/color"],
        (SERVICE, "payment-preview"): ["spec.selector.azora.io/color"],
    }


def test_a_stack_file_in_the_layout_before_azora_status_deploys_the_same_objects() -> None:
    """Release state under `services.<name>` (the old layout) is read as status: the program
    registers exactly what the new layout gives, green active included."""

    def old_layout(raw: dict[str, Any]) -> None:
        for name, status in raw.pop("status").items():
            raw["services"][name].update(status)
        raw["services"]["payment"]["activeColor"] = "green"

    before = run_program("staging", lambda raw: _flip("payment")(raw))
    after = run_program("staging", old_layout)
    assert before.error is None and after.error is None
    config, _ = stack_config("staging", old_layout)
    assert json.loads(config["azora:services"])["payment"]["activeColor"] == "green"
    assert "azora:status" not in config
    assert _differences(before, after) == {}
    assert after.outputs["services"]["payment"]["activeColor"] == "green"


def test_with_autoscaling_the_hpa_follows_the_active_colour() -> None:
    before = mocked_stack("production")
    after = run_program("production", _flip("auth"))
    diff = _differences(before, after)
    assert diff[("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "auth-hpa")] == ["spec.scaleTargetRef.name"]
    assert set(diff) == {
        (SERVICE, "auth-active"),
        (SERVICE, "auth-preview"),
        (DEPLOYMENT, "auth-blue"),
        (DEPLOYMENT, "auth-green"),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "auth-hpa"),
    }


def test_secrets_stay_secret() -> None:
    run = mocked_stack("production")
    assert "grafanaAdminPassword" in run.secret_outputs
    assert run.outputs["grafanaAdminPassword"] == "mock-password-monitoring-grafana-admin"
    for registration in run.of_type("kubernetes:core/v1:Secret"):
        data = registration.inputs["stringData"]
        assert _is_secret(data), registration.name
    payment = run.named("kubernetes:core/v1:Secret", "payment-secrets").inputs["stringData"]["value"]
    assert payment == {"DATABASE_URL": secret_for("postgresqlUrl"), "SENTRY_DSN": secret_for("sentryDsn")}
    prometheus = next(r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "monitoring-prometheus-chart")
    assert _is_secret(prometheus.inputs["values"])
    # The pods read secrets from files of the mounted Secret, never by value (tests/unit/test_checkov_skips.py).
    env = _containers(run.named(DEPLOYMENT, "payment-blue"))[0]["env"]
    by_name = {item["name"]: item for item in env}
    assert by_name["DATABASE_URL_FILE"] == {"name": "DATABASE_URL_FILE", "value": "/var/run/secrets/azora/DATABASE_URL"}
    assert "DATABASE_URL" not in by_name


def test_in_cluster_database_password_is_generated_and_secret() -> None:
    run = mocked_stack("staging")
    secret = run.named("kubernetes:core/v1:Secret", "auth-secrets").inputs["stringData"]
    assert _is_secret(secret)
    url = secret["value"]["DATABASE_URL"]
    assert url == (
        "postgresql://azora:mock-password-azora-postgresql-password"
        "@postgresql.azora-staging.svc.cluster.local:5432/azora"
    )
    assert "grafanaAdminPassword" in run.secret_outputs


def test_exports_per_service(stack_run: ProgramRun) -> None:
    services = stack_run.outputs["services"]
    assert list(services) == SERVICES
    namespace = stack_run.outputs["namespace"]
    web = services["web"]
    assert web["activeColor"] == "blue"
    assert (web["activeService"], web["previewService"]) == ("web", "web-preview")
    assert set(web["versions"]) == {"blue", "green"}
    assert web["healthUrl"] == f"http://web.{namespace}.svc.cluster.local:3000/api/health"
    assert services["auth"]["publicUrl"] == ""


def test_invalid_config_stops_before_any_resource_is_registered() -> None:
    def break_it(raw: dict[str, Any]) -> None:
        raw["services"]["payment"]["replicas"] = 0
        raw["status"]["web"]["activeColor"] = "red"

    run = run_program("staging", break_it)
    assert run.error is not None
    assert type(run.error).__name__ == "RunError"
    message = str(run.error)
    assert "Pulumi.staging.yaml: azora:services.payment.replicas: must be >= 1, got 0" in message
    assert "Pulumi.staging.yaml: azora:status.web.activeColor: must be one of 'blue' or 'green'" in message
    assert run.resources == []


def test_namespace_is_closed_by_default() -> None:
    run = mocked_stack("production")
    namespace = run.named("kubernetes:core/v1:Namespace", "azora-namespace-namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/part-of"] == "azora"
    deny = run.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "azora-namespace-default-deny")
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    quota = run.named("kubernetes:core/v1:ResourceQuota", "azora-namespace-quota").inputs["spec"]["hard"]
    # 6 services x 2 colours x (9 max replicas + 1 surge) x 1 CPU limit x 1.25 headroom
    assert quota["limits.cpu"] == "150000m"
    assert quota["pods"] == "150"


def test_traffic_policies_follow_talks_to() -> None:
    run = mocked_stack("staging")
    gateway = run.named("kubernetes:networking.k8s.io/v1:NetworkPolicy", "azora-namespace-api-gateway-traffic")
    spec = gateway.inputs["spec"]
    callers = spec["ingress"][0]["from"]
    assert callers == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}]
    peers = [rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for rule in spec["egress"][:4]]
    assert peers == ["auth", "education", "payment", "marketplace"]
    from_ingress = spec["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"]
    assert from_ingress == {"kubernetes.io/metadata.name": "ingress-nginx"}


def test_pods_tell_the_app_image_who_it_is_where_to_listen_and_what_to_answer(stack_run: ProgramRun) -> None:
    """The contract between the Deployments and the stand-in image (`python -m azora.standin
    serve`): the identity it reads from the environment is the one the stack file gives."""
    from azora.standin.identity import ServiceIdentity

    for name in SERVICES:
        green = stack_run.named(DEPLOYMENT, f"{name}-green")
        env = {item["name"]: item["value"] for item in _containers(green)[0]["env"] if "value" in item}
        identity = ServiceIdentity.from_env(env)
        container = _containers(green)[0]
        assert identity.service == name and identity.color == "green"
        assert identity.version == container["image"].rsplit(":", 1)[1]
        assert identity.port == container["ports"][0]["containerPort"]
        assert identity.health_path == container["readinessProbe"]["httpGet"]["path"]
