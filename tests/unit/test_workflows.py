"""The GitHub Actions workflows (.github/workflows): actionlint finds nothing, every `azora`
command (and option) and every `make` target they run exists, and the release rules hold:
production behind its environment, reports always uploaded, the preview commented on the PR.

The commands are read from the workflows' `run:` steps, never listed here, so a workflow
calling a command the CLI does not have (or no longer has) fails this file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from azora import actionlint
from azora.cli import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml"))
EXPECTED = {"preview.yml", "deploy.yml", "drift.yml"}
STACKS = ("staging", "production")

runner = CliRunner()


# --------------------------------------------------------------------------- reading workflows


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


WORKFLOWS = {path.name: load(path) for path in WORKFLOW_FILES}


def jobs(name: str) -> dict[str, dict[str, Any]]:
    return WORKFLOWS[name]["jobs"]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def job_script(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


@dataclass(frozen=True)
class Invocation:
    """One shell command of a `run:` step: `azora ...` or `make ...`."""

    workflow: str
    job: str
    step: str
    words: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.workflow}, job {self.job}, step {self.step!r}"

    def __str__(self) -> str:
        return " ".join(self.words)


# Words that may stand before a command in a simple shell command.
PREFIX_WORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec", "command", "{", "("}


def shell_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a bash script, as words (good enough for `run:` blocks)."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote (heredoc text): plain words will do
            tokens = line.split()
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token and all(c in "();<>|&" for c in token):
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def command_words(words: list[str]) -> list[str]:
    """Drop leading `VAR=value` assignments and shell keywords."""
    i = 0
    while i < len(words) and (words[i] in PREFIX_WORDS or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[i])):
        i += 1
    return words[i:]


def invocations(program: str) -> list[Invocation]:
    """Every `<program> ...` (also `.venv/bin/<program>`) run by a bash step of a workflow."""
    found = []
    for name, workflow in WORKFLOWS.items():
        default_shell = ((workflow.get("defaults") or {}).get("run") or {}).get("shell", "bash")
        for job_id, job in workflow.get("jobs", {}).items():
            for index, step in enumerate(steps(job)):
                if "run" not in step or step.get("shell", default_shell) not in ("bash", "sh"):
                    continue
                label = step.get("name") or f"#{index + 1}"
                for words in shell_commands(str(step["run"])):
                    words = command_words(words)
                    if words and os.path.basename(words[0]) == program:
                        found.append(Invocation(name, job_id, label, tuple(words)))
    return found


AZORA_CALLS = invocations("azora")
MAKE_CALLS = invocations("make")


# --------------------------------------------------------------------------- the CLI


def command_path(words: tuple[str, ...]) -> list[str]:
    """`azora config check F` -> [config, check]; `azora up --stack s` -> [up]."""
    path = []
    for word in words[1:3]:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
            break
        path.append(word)
    return path


def resolve(path: list[str]) -> tuple[Any, list[str]]:
    """The Click command a path reaches, and the words of the path that named it (a word after
    a plain command, or after a group without sub-commands, is an argument)."""
    command = typer.main.get_command(app)
    used: list[str] = []
    for word in path:
        children = getattr(command, "commands", None)
        if not children:
            break
        if word not in children:
            raise LookupError(f"`{' '.join(['azora', *used])}` has no command {word!r}")
        command = children[word]
        used.append(word)
    return command, used


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in getattr(command, "params", []):
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= EXPECTED
    assert AZORA_CALLS and MAKE_CALLS


@pytest.mark.parametrize(
    "call", AZORA_CALLS, ids=lambda c: f"{c.workflow}:{c.job}:azora {' '.join(command_path(c.words))}"
)
def test_every_azora_command_of_the_workflows_exists(call: Invocation) -> None:
    path = command_path(call.words)
    assert path, f"{call.where}: `{call}` names no command"
    try:
        command, used = resolve(path)
    except LookupError as exc:
        pytest.fail(f"{call.where} runs `{call}`, but {exc}: add it to azora/cli.py or fix the workflow")
    result = runner.invoke(app, [*used, "--help"])
    assert result.exit_code == 0, (
        f"{call.where}: `azora {' '.join(used)} --help` exits {result.exit_code}:\n{result.output}"
    )
    assert not getattr(command, "commands", None), (
        f"{call.where} runs `{call}`: `azora {' '.join(used)}` needs a sub-command"
    )
    known = option_names(command)
    used_options = {w.split("=", 1)[0] for w in call.words[1:] if w.startswith("--")}
    unknown = sorted(used_options - known)
    assert not unknown, (
        f"{call.where} runs `{call}`: `azora {' '.join(used)}` has no option {', '.join(unknown)} "
        f"(it has {', '.join(sorted(known))})"
    )


# --------------------------------------------------------------------------- make


def makefile_targets() -> set[str]:
    targets: set[str] = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-/ ]+?)\s*::?(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets


@pytest.mark.parametrize("call", MAKE_CALLS, ids=lambda c: f"{c.workflow}:{c.job}:{' '.join(c.words)}")
def test_every_make_target_of_the_workflows_exists(call: Invocation) -> None:
    wanted = [w for w in call.words[1:] if not w.startswith("-") and "=" not in w]
    assert wanted, f"{call.where}: `{call}` names no target (be explicit)"
    missing = [t for t in wanted if t not in makefile_targets()]
    assert not missing, f"{call.where} runs `{call}`, but the Makefile has no target {', '.join(missing)}"


# --------------------------------------------------------------------------- toolchain groups

# The workflows that only need the Pulumi set of the toolchain: they run no embedded cluster.
PULUMI_ONLY = ("preview.yml", "deploy.yml", "drift.yml")
CLUSTER_INSTALL = re.compile(r"\bazora tools install\b[^\n]*--with[ =]cluster\b")


def makefile_rules() -> dict[str, tuple[list[str], list[str]]]:
    """Every Makefile target: its prerequisites and its recipe lines."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] = []
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t"):
            for target in current:
                rules[target][1].append(line.strip())
            continue
        match = re.match(r"^([A-Za-z0-9_.\-/$() ]+?)\s*::?(?!=)(.*)$", line)
        current = []
        if match and not line.startswith("."):
            current = match.group(1).split()
            for target in current:
                rules.setdefault(target, ([], []))[0].extend(match.group(2).split())
    return rules


def recipe_closure(target: str) -> list[str]:
    """The recipe lines `make <target>` runs: its own and those of its prerequisites."""
    rules = makefile_rules()
    seen: set[str] = set()
    lines: list[str] = []
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen or name not in rules:
            continue
        seen.add(name)
        prerequisites, recipe = rules[name]
        todo.extend(prerequisites)
        lines.extend(recipe)
    return lines


def test_the_makefile_reader_sees_which_targets_build_the_cluster_group() -> None:
    # The reader below must see through prerequisites: `make test` builds what `make tools` does.
    assert any(CLUSTER_INSTALL.search(line) for line in recipe_closure("tools"))
    assert any(CLUSTER_INSTALL.search(line) for line in recipe_closure("test"))
    assert not any(CLUSTER_INSTALL.search(line) for line in recipe_closure("setup"))


@pytest.mark.parametrize("name", PULUMI_ONLY)
def test_the_release_workflows_never_build_the_cluster_group(name: str) -> None:
    for call in [c for c in AZORA_CALLS if c.workflow == name]:
        if command_path(call.words)[:2] == ["tools", "install"]:
            words = list(call.words)
            groups = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--with"]
            groups += [w.split("=", 1)[1] for w in words if w.startswith("--with=")]
            assert "cluster" not in groups, (
                f"{call.where} runs `{call}`: the Pulumi set is enough (drop --with cluster)"
            )
    for call in [c for c in MAKE_CALLS if c.workflow == name]:
        targets = [w for w in call.words[1:] if not w.startswith("-") and "=" not in w]
        assert "test" not in targets, f"{call.where} runs `{call}`: the whole suite needs the cluster group"
        for target in targets:
            cluster = [line for line in recipe_closure(target) if CLUSTER_INSTALL.search(line)]
            assert not cluster, (
                f"{call.where} runs `{call}`, which builds the cluster group ({cluster[0]}): "
                "run `.venv/bin/azora tools install` instead"
            )
    for job_id, job in jobs(name).items():
        assert not CLUSTER_INSTALL.search(job_script(job)), f"{name}: job {job_id} installs the cluster group"


def test_the_jobs_that_run_pulumi_install_the_pulumi_set() -> None:
    installs = {
        (c.workflow, c.job)
        for c in AZORA_CALLS
        if c.workflow in PULUMI_ONLY and command_path(c.words) == ["tools", "install"]
    }
    assert installs >= {
        ("preview.yml", "preview"),
        ("deploy.yml", "staging"),
        ("deploy.yml", "production"),
        ("drift.yml", "drift"),
    }, installs


# --------------------------------------------------------------------------- actionlint


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def actionlint_binary() -> Path:
    try:
        return actionlint.ensure_actionlint()
    except actionlint.GoMissingError as exc:
        if in_ci():
            pytest.fail(f"CI needs actionlint: {exc}")
        pytest.skip(str(exc))


def test_actionlint_finds_nothing(actionlint_binary: Path) -> None:
    files = [str(p.relative_to(ROOT)) for p in WORKFLOW_FILES]
    done = subprocess.run(
        [str(actionlint_binary), "-no-color", "-oneline", *files], cwd=ROOT, capture_output=True, text=True
    )
    findings = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 and not findings, (
        f"actionlint {actionlint.VERSION} (exit {done.returncode}; shellcheck on PATH: "
        f"{bool(shutil.which('shellcheck'))}):\n{findings}"
    )


# --------------------------------------------------------------------------- release rules


def test_production_is_changed_only_by_jobs_behind_the_production_environment() -> None:
    writers = {
        (name, job_id): job
        for name in EXPECTED
        for job_id, job in jobs(name).items()
        if re.search(r"azora (up|deploy|promote|rollback|scale-down) [^\n]*--stack production", job_script(job))
    }
    assert ("deploy.yml", "production") in writers
    for (name, job_id), job in writers.items():
        environment = job.get("environment")
        env_name = environment.get("name") if isinstance(environment, dict) else environment
        assert env_name == "production", f"{name}: job {job_id} changes production without `environment: production`"


def test_the_production_job_waits_for_staging_and_rolls_back_on_failure() -> None:
    staging, production = jobs("deploy.yml")["staging"], jobs("deploy.yml")["production"]
    assert production.get("needs") in ("staging", ["staging"])
    script = job_script(staging)
    assert "azora up --stack staging --yes" in script
    assert "azora smoke --stack staging --junit reports/smoke-staging.xml" in script
    assert "azora e2e --stack staging --base-url" in script
    rollback = [s for s in steps(production) if "azora rollback --stack production --yes" in str(s.get("run", ""))]
    assert rollback and "failure()" in str(rollback[0].get("if", ""))
    by_event = {s.get("id"): str(s.get("if", "")) for s in steps(production) if s.get("id")}
    for step_id in ("deploy", "promote"):
        assert "workflow_dispatch" in by_event[step_id], step_id
    for step_id in ("up", "smoke"):
        assert "push" in by_event[step_id], step_id


def test_deploy_uploads_the_reports_always() -> None:
    for job_id, job in jobs("deploy.yml").items():
        uploads = [
            s
            for s in steps(job)
            if uses(s, "actions/upload-artifact") and "reports/" in str((s.get("with") or {}).get("path", ""))
        ]
        assert uploads, f"deploy.yml: job {job_id} does not upload reports/"
        assert all("always()" in str(s.get("if", "")) for s in uploads), f"deploy.yml: job {job_id}: `if: always()`"


def test_deploy_is_triggered_by_main_and_by_hand_with_a_service_and_a_version() -> None:
    on = triggers(WORKFLOWS["deploy.yml"])
    assert "main" in on["push"]["branches"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert {"service", "version"} <= set(inputs)
    if inputs["service"].get("type") == "choice":
        services = set(yaml.safe_load((ROOT / "Pulumi.production.yaml").read_text())["config"]["azora:services"])
        assert set(inputs["service"]["options"]) == services, (
            "deploy.yml: the `service` choices must be the services of Pulumi.production.yaml"
        )


def test_the_preview_runs_the_policy_pack_and_comments_on_the_pr() -> None:
    assert "pull_request" in triggers(WORKFLOWS["preview.yml"])
    found = []
    for job_id, job in jobs("preview.yml").items():
        for step in steps(job):
            options = step.get("with") or {}
            if uses(step, "pulumi/actions") and options.get("command") == "preview":
                found.append(job_id)
                assert options.get("comment-on-pr") is True, "comment-on-pr: true"
                assert "policy" in str(options.get("policyPacks", "")).split(), "policyPacks: policy"
                assert (job.get("permissions") or {}).get("pull-requests") == "write", job_id
                assert set(job["strategy"]["matrix"]["stack"]) == set(STACKS)
    assert found, "preview.yml: no pulumi/actions step with `command: preview`"
    lint = job_script(jobs("preview.yml")["lint-unit"])
    assert ".venv/bin/ruff check ." in lint
    assert '-m "not integration and not live and not e2e"' in lint


def test_the_preview_uploads_the_rendered_manifests_policy_findings_as_sarif() -> None:
    job = jobs("preview.yml")["preview"]
    names = [str(step.get("uses") or step.get("name")) for step in steps(job)]
    calls = [c for c in AZORA_CALLS if c.workflow == "preview.yml" and c.job == "preview"]
    render = [c for c in calls if command_path(c.words) == ["render"]]
    check = [c for c in calls if command_path(c.words) == ["policy", "check"]]
    assert len(render) == 1 and len(check) == 1, calls
    words = list(check[0].words)
    assert words[words.index("--format") + 1] == "sarif"
    out_dir = render[0].words[render[0].words.index("--out") + 1]
    assert out_dir in words, "the check reads what the render wrote"
    (upload,) = [s for s in steps(job) if uses(s, "github/codeql-action/upload-sarif")]
    sarif_file = upload["with"]["sarif_file"].replace("${{ matrix.stack }}", "$STACK")
    assert f'> "{sarif_file}"' in job_script(job), "upload the file the check wrote"
    assert "matrix.stack" in upload["with"]["category"], "one code scanning category per stack"
    assert (job.get("permissions") or {}).get("security-events") == "write"
    # In order, and after the preview, whose own failure must not stop the upload.
    preview = next(
        i for i, s in enumerate(steps(job)) if uses(s, "pulumi/actions") and (s.get("with") or {}).get("command")
    )
    order = [names.index(render[0].step), names.index(check[0].step), names.index(str(upload["uses"]))]
    assert preview < order[0] and order == sorted(order)
    assert all("!cancelled()" in str(s.get("if", "")) for s in steps(job)[order[0] :])


def test_drift_refreshes_every_stack_nightly_and_expects_no_changes() -> None:
    on = triggers(WORKFLOWS["drift.yml"])
    assert on.get("schedule") and "workflow_dispatch" in on
    (job,) = jobs("drift.yml").values()
    assert set(job["strategy"]["matrix"]["stack"]) == set(STACKS)
    calls = [c for c in AZORA_CALLS if c.workflow == "drift.yml" and c.words[1] == "preview"]
    assert calls and {"--refresh", "--expect-no-changes"} <= set(calls[0].words)


# --------------------------------------------------------------------------- hygiene


ALL_JOBS = [(name, job_id, job) for name in sorted(WORKFLOWS) for job_id, job in jobs(name).items()]


@pytest.mark.parametrize(("name", "job_id", "job"), ALL_JOBS, ids=[f"{n}:{j}" for n, j, _ in ALL_JOBS])
def test_every_job_has_a_timeout_explicit_permissions_and_pinned_actions(name: str, job_id: str, job: Any) -> None:
    assert "permissions" in WORKFLOWS[name], f"{name}: top-level `permissions:` (least privilege)"
    assert isinstance(job.get("timeout-minutes"), int), f"{name}: job {job_id} has no timeout-minutes"
    assert "permissions" in job, f"{name}: job {job_id} has no `permissions:`"
    pins = tomllib.loads((ROOT / "toolchain" / "pins.toml").read_text())["sdk"]
    for step in steps(job):
        action = step.get("uses")
        if action:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40})", action), f"{name}: {action}: pin a major"
        if action and uses(step, "pulumi/actions"):
            version = str((step.get("with") or {}).get("pulumi-version", ""))
            assert version in (pins["pulumi"], "${{ steps.pins.outputs.pulumi }}"), (
                f"{name}: job {job_id}: pulumi/actions needs pulumi-version (toolchain/pins.toml: {pins['pulumi']})"
            )


@pytest.mark.parametrize(("name", "job_id", "job"), ALL_JOBS, ids=[f"{n}:{j}" for n, j, _ in ALL_JOBS])
def test_stack_updates_are_serialised_per_stack_and_never_cancelled(name: str, job_id: str, job: Any) -> None:
    for stack in STACKS:
        if not re.search(rf"azora (up|deploy|promote|rollback|scale-down) [^\n]*--stack {stack}", job_script(job)):
            continue
        concurrency = job.get("concurrency") or {}
        assert stack in str(concurrency.get("group", "")), f"{name}: job {job_id}: concurrency group per stack"
        assert concurrency.get("cancel-in-progress") is False, f"{name}: job {job_id}: never cancel an update"
