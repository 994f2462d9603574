"""`helm template CHART | azora policy check -`, for real: the toolchain's helm (the version the
kubernetes provider embeds) renders the stand-in chart offline, and its output goes through a
pipe into the installed `azora` command, as a user types it in a shell.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from azora.toolchain import Toolchain
from azora.toolchain.pins import Pins

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "tests" / "charts" / "stand-in"
AZORA = Path(sys.executable).parent / "azora"


def pipe(
    toolchain: Toolchain, tmp_path: Path, *helm_args: str, check_args: tuple[str, ...] = ("--json",)
) -> tuple[int, str, str]:
    """`helm template demo CHART --namespace shop HELM_ARGS | azora policy check CHECK_ARGS -`:
    azora's exit code, output and errors. Helm's own caches and config go to `tmp_path`."""
    helm_env = {
        "HOME": str(tmp_path),
        "HELM_CACHE_HOME": str(tmp_path / "cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "config"),
        "HELM_DATA_HOME": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
    }
    helm = subprocess.Popen(
        [str(toolchain.bin_dir / "helm"), "template", "demo", str(CHART), "--namespace", "shop", *helm_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=helm_env,
    )
    assert helm.stdout is not None
    check = subprocess.run(
        [str(AZORA), "policy", "check", *check_args, "-"],
        stdin=helm.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    helm.stdout.close()
    _, helm_errors = helm.communicate(timeout=60)
    assert helm.returncode == 0, helm_errors.decode()
    return check.returncode, check.stdout, check.stderr


def test_the_stand_in_chart_passes_every_mandatory_rule(toolchain: Toolchain, tmp_path: Path) -> None:
    code, out, err = pipe(toolchain, tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["resources"] == 2  # the chart's Service and Deployment
    # The chart's namespace is not in what helm renders: the set cannot show its policies.
    assert [(v["policy"], v["enforcement"], v["resource"]) for v in report["violations"]] == [
        ("workload-namespace-default-deny", "advisory", "Deployment/shop/demo")
    ]


def test_a_chart_value_that_breaks_a_rule_fails_the_pipe_and_names_stdin(toolchain: Toolchain, tmp_path: Path) -> None:
    code, out, err = pipe(toolchain, tmp_path, "--set", "standIn.image=nginx:latest", check_args=("--format", "sarif"))
    assert code == 1, err
    results = json.loads(out)["runs"][0]["results"]
    tag = [r for r in results if r["ruleId"] == "image-tag-pinned"]
    assert len(tag) == 1 and tag[0]["level"] == "error"
    assert "nginx:latest" in tag[0]["message"]["text"]
    location = tag[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "<stdin>"
    # The Deployment's first line in what helm printed: after the Service, `---` and `# Source:`.
    rendered = subprocess.run(
        [str(toolchain.bin_dir / "helm"), "template", "demo", str(CHART), "--namespace", "shop"],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    start = rendered.index("kind: Deployment")
    while start > 0 and rendered[start - 1] not in ("---", "") and not rendered[start - 1].startswith("#"):
        start -= 1
    assert rendered[start] == "apiVersion: apps/v1"
    assert location["region"]["startLine"] == start + 1


def test_helm_is_the_version_the_kubernetes_provider_embeds(toolchain: Toolchain) -> None:
    pins = Pins.load()
    shown = subprocess.run(
        [str(toolchain.bin_dir / "helm"), "version", "--template", "{{ .Version }}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == pins.helm
    # The provider's go.mod, as the Go module cache holds it after `azora tools install`.
    cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    go_mod = Path(cache, "cache", "download", pins.kubernetes_module, "@v", f"{pins.kubernetes_module_version}.mod")
    required = re.search(r"^\s*helm\.sh/helm/v3 (\S+)", go_mod.read_text(), re.M)
    assert required is not None and required.group(1) == pins.helm
