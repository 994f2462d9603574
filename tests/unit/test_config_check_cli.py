"""`azora config check`: exit codes, every problem listed, JSON, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from azora.cli import app

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = [str(ROOT / f"Pulumi.{s}.yaml") for s in ("local", "staging", "production")]
runner = CliRunner()


def _broken(tmp_path: Path) -> Path:
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    text = text.replace("replicas: 2", "replicas: 0", 1).replace("activeColor: blue", "activeColor: red", 1)
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    return path


def test_the_project_stack_files_pass() -> None:
    result = runner.invoke(app, ["config", "check", *STACK_FILES])
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 3
    assert "production, namespace azora-production, 6 services" in result.output
    # The repository's production secrets are placeholders: said, but not an error.
    assert "Pulumi.production.yaml: azora:sentryDsn, azora:postgresqlUrl, azora:redisUrl still hold" in result.output


def test_with_no_file_the_project_found_from_the_directory_is_checked(tmp_path: Path) -> None:
    project = tmp_path / "checkout"
    (project / "components").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for stack in ("local", "staging"):
        (project / f"Pulumi.{stack}.yaml").write_text((ROOT / f"Pulumi.{stack}.yaml").read_text())
    _broken(project)  # Pulumi.broken.yaml: a third stack, invalid
    where = ["-C", str(project / "components")]
    every = runner.invoke(app, [*where, "config", "check", "--json"])
    assert every.exit_code == 1, every.output
    checked = {Path(f["file"]).name: f["valid"] for f in json.loads(every.output)["files"]}
    assert checked == {"Pulumi.broken.yaml": False, "Pulumi.local.yaml": True, "Pulumi.staging.yaml": True}
    one = runner.invoke(app, [*where, "config", "check", "-s", "staging"])
    assert one.exit_code == 0, one.output
    assert one.output.startswith(f"✓ {project / 'Pulumi.staging.yaml'}: staging, namespace azora-staging")
    assert one.output.count("✓") == 1
    unknown = runner.invoke(app, [*where, "config", "check", "--stack", "prod"])
    assert unknown.exit_code == 2
    assert f"Pulumi.prod.yaml not found in {project} (stacks: broken, local, staging)" in unknown.output
    both = runner.invoke(app, [*where, "config", "check", "-s", "local", STACK_FILES[0]])
    assert (both.exit_code, both.output) == (2, "error: give stack files or --stack, not both\n")
    for stack in ("broken", "local", "staging"):
        (project / f"Pulumi.{stack}.yaml").unlink()
    none = runner.invoke(app, [*where, "config", "check"])
    assert none.exit_code == 2
    assert f"no Pulumi.<stack>.yaml in {project}: nothing to check" in " ".join(none.output.split())


def test_every_problem_is_listed_and_exit_is_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", STACK_FILES[0], str(_broken(tmp_path))])
    assert result.exit_code == 1
    assert (
        "Pulumi.broken.yaml: azora:status.web.activeColor: must be one of 'blue' or 'green', got 'red'" in result.output
    )
    assert "Pulumi.broken.yaml: azora:services.web.replicas: must be >= 1, got 0" in result.output
    assert "✓" in result.output  # the valid file is still reported


def test_json_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", "--json", str(_broken(tmp_path))])
    assert result.exit_code == 1
    report = json.loads(result.output)
    problems = report["files"][0]["problems"]
    assert {p["key"] for p in problems} == {"azora:status.web.activeColor", "azora:services.web.replicas"}
    assert all(isinstance(p["line"], int) for p in problems)


def test_not_yaml_and_missing_file_are_errors_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  azora:namespace: [unclosed\n")
    latin1 = tmp_path / "Pulumi.latin1.yaml"
    latin1.write_bytes("config:\n  azora:namespace: café\n".encode("latin-1"))
    script = Path(sys.executable).parent / "azora"
    completed = subprocess.run(
        [str(script), "config", "check", str(bad), str(tmp_path / "missing.yaml"), str(latin1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output
    assert "Pulumi.bad.yaml: config: not valid YAML" in output and "(line 3)" in output
    assert "missing.yaml: config: cannot read file" in output
    assert "Pulumi.latin1.yaml: config: not UTF-8 text (byte 0xe9 at offset 30)" in output


def test_duplicate_keys_anywhere_are_errors_with_both_lines(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  azora:monitoring:")) + 1
    nested = next(i for i, line in enumerate(lines) if line.strip() == "port: 8083") + 1
    lines.insert(nested, "      port: 9999")  # a second `port` under services.payment
    lines.append("  azora:monitoring:")
    lines.append("    enabled: false")
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert (
        f"Pulumi.dup.yaml: config: duplicate key azora:services.payment.port at lines {nested} and {nested + 1}"
        in result.output
    )
    assert (
        f"Pulumi.dup.yaml: config: duplicate key azora:monitoring at lines {first} and {len(lines) - 1}"
        in result.output
    )


def test_a_stack_file_in_the_old_layout_passes_with_a_note(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    old = text.split("  azora:status:")[0].replace("      port: 8083\n", "      activeColor: green\n      port: 8083\n")
    old = old.replace('versions: {blue: "2.0.4", green: "2.0.4"}', 'versions: {blue: "2.0.4", green: "2.0.5"}')
    path = tmp_path / "Pulumi.old.yaml"
    path.write_text(old)
    result = runner.invoke(app, ["config", "check", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"][0]["legacyStatus"] == ["payment"]


def test_a_release_state_key_in_both_places_with_different_values_is_an_error(tmp_path: Path) -> None:
    text = (
        (ROOT / "Pulumi.staging.yaml")
        .read_text()
        .replace("      port: 8083\n", "      activeColor: green\n      port: 8083\n", 1)
    )
    path = tmp_path / "Pulumi.both.yaml"
    path.write_text(text)
    line = text.splitlines().index("      activeColor: green") + 1
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert (
        "Pulumi.both.yaml: azora:services.payment.activeColor: conflicts with azora:status.payment.activeColor "
        f"('green' here, 'blue' there); release state belongs in azora:status: remove this one (line {line})"
    ) in result.output
