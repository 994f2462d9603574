"""What checkov is told and what makes a skip unnecessary, under mocks: the skip annotations
(components/checkov.py), secrets as files and digests per tag (components/blue_green.py,
azora/config/images.py). tests/integration/test_checkov.py runs checkov itself."""

from __future__ import annotations

from typing import Any

import pytest

from components.checkov import skip_annotations
from tests.conftest import mocked_stack
from tests.mocked_program import ProgramRun, Registration, run_program
from tests.unit.test_config_model import problems_after

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICES = ["web", "api-gateway", "auth", "education", "payment", "marketplace"]
# A well-formed digest for the tests, not any real image's.
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _skips(deployment: Registration) -> dict[str, str]:
    """check id -> reason, from the Deployment's checkov annotations."""
    annotations = deployment.inputs["metadata"].get("annotations") or {}
    pairs = [value.split("=") for key, value in annotations.items() if key.startswith("checkov.io/skip")]
    return {check: reason for check, reason in pairs}


def _container(deployment: Registration) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]["containers"][0]


def _env(deployment: Registration) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in _container(deployment)["env"]}


def test_skips_become_numbered_annotations_in_check_order() -> None:
    annotations = skip_annotations({"CKV_K8S_43": "no digest yet", "CKV_K8S_15": "pinned tags\n  pull once"})
    assert annotations == {
        "checkov.io/skip1": "CKV_K8S_15=pinned tags pull once",
        "checkov.io/skip2": "CKV_K8S_43=no digest yet",
    }
    assert skip_annotations({}) == {}


@pytest.mark.parametrize(
    ("check", "reason", "says"),
    [
        ("CKV_K8S_15", "  ", "needs a reason"),
        ("CKV_K8S_15", "a=b", "may not contain '='"),
        ("CKV_AWS_1", "a reason", "not a Kubernetes check id"),
    ],
)
def test_a_skip_checkov_could_not_read_is_refused(check: str, reason: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        skip_annotations({check: reason})


def test_production_deployments_say_why_they_run_by_tag() -> None:
    run = mocked_stack("production")
    for name in SERVICES:
        for color in ("blue", "green"):
            deployment = run.named(DEPLOYMENT, f"{name}-{color}")
            image = _container(deployment)["image"]
            skips = _skips(deployment)
            assert sorted(skips) == ["CKV_K8S_15", "CKV_K8S_43"], deployment.name
            assert f"no digest recorded for {image} (azora:services.{name}.digests)" in skips["CKV_K8S_43"]
            assert "policy rule image-pull-policy" in skips["CKV_K8S_15"]
            assert _container(deployment)["imagePullPolicy"] == "IfNotPresent"


def test_secrets_are_files_named_by_their_file_variables() -> None:
    run = mocked_stack("production")
    payment = run.named(DEPLOYMENT, "payment-blue")
    env = _env(payment)
    assert env["DATABASE_URL_FILE"]["value"] == "/var/run/secrets/azora/DATABASE_URL"
    assert env["SENTRY_DSN_FILE"]["value"] == "/var/run/secrets/azora/SENTRY_DSN"
    assert not [item for item in env.values() if "valueFrom" in item]
    pod = payment.inputs["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
    assert volume["secret"] == {"secretName": "payment-secrets", "defaultMode": 0o440}
    mount = next(m for m in _container(payment)["volumeMounts"] if m["name"] == "secrets")
    assert mount == {"name": "secrets", "mountPath": "/var/run/secrets/azora", "readOnly": True}
    # The local stack has no secrets: no Secret, no volume, no _FILE variables.
    local = mocked_stack("local").named(DEPLOYMENT, "payment-blue")
    assert [v["name"] for v in local.inputs["spec"]["template"]["spec"]["volumes"]] == ["tmp"]
    assert not [name for name in _env(local) if name.endswith("_FILE")]


def _with(edit: Any) -> ProgramRun:
    run = run_program("production", edit)
    assert run.error is None, run.error
    return run


def test_a_digest_pins_its_tag_and_leaves_nothing_to_skip() -> None:
    def pin_blue(raw: dict[str, Any]) -> None:
        raw["services"]["web"]["digests"] = {"2.3.1": DIGEST, "2.9.9": DIGEST}

    run = _with(pin_blue)
    blue, green = run.named(DEPLOYMENT, "web-blue"), run.named(DEPLOYMENT, "web-green")
    assert _container(blue)["image"] == f"ghcr.io/azora/web:2.3.1@{DIGEST}"
    assert _skips(blue) == {}
    # The label, the app's version and the other colour still go by tag.
    assert blue.inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "2.3.1"
    assert _env(blue)["AZORA_VERSION"]["value"] == "2.3.1"
    assert _container(green)["image"] == "ghcr.io/azora/web:2.4.0"
    assert sorted(_skips(green)) == ["CKV_K8S_15", "CKV_K8S_43"]


def test_secrets_as_env_passes_both_and_tells_checkov() -> None:
    def env_app(raw: dict[str, Any]) -> None:
        raw["services"]["payment"]["secretsAsEnv"] = True

    deployment = _with(env_app).named(DEPLOYMENT, "payment-green")
    env = _env(deployment)
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "payment-secrets", "key": "DATABASE_URL"}}
    assert env["DATABASE_URL_FILE"]["value"] == "/var/run/secrets/azora/DATABASE_URL"
    reason = _skips(deployment)["CKV_K8S_35"]
    assert reason.startswith("azora:services.payment.secretsAsEnv: the app reads DATABASE_URL, SENTRY_DSN")


def test_digests_are_checked_per_tag() -> None:
    def bad(raw: dict[str, Any]) -> None:
        raw["services"]["web"]["digests"] = {"2.4.0": "sha256:abc", "-x": DIGEST, "2.3.1": DIGEST}

    problems = problems_after(bad)
    assert any("services.web.digests.2.4.0: must be a digest such as sha256:" in p for p in problems), problems
    assert any("services.web.digests.-x: is not a valid image tag" in p for p in problems), problems
    assert not any("2.3.1" in p for p in problems)
