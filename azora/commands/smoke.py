"""`azora smoke --stack S`: health-check every service of a stack; JUnit report; exit 0/1/2.

Where the targets come from, first match wins:
1. `--service NAME=URL` (repeatable): explicit health URLs; they also override services of 2-4.
2. `--outputs FILE` (or env AZORA_STACK_OUTPUTS): the JSON of `pulumi stack output --json`.
3. the stack's live outputs, through the `read_outputs` callable given to `make_app` (the
   Pulumi Automation API adapter plugs in there; it raises OutputsUnavailable without an engine).
4. with `--base-url` only: the services of `Pulumi.<stack>.yaml` (desired state, offline).
Without any of these the command exits 2: live stack outputs need the Pulumi engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from azora.config.errors import ConfigError
from azora.config.load import load_stack_file
from azora.console import err, out
from azora.context import Context, of
from azora.errors import AzoraError, BadInput
from azora.junit import write_junit
from azora.smoke import (
    OutputsReader,
    OutputsUnavailable,
    Result,
    RetryPolicy,
    SmokeInputError,
    Target,
    junit_cases,
    load_outputs_file,
    outputs_from_config,
    parse_service_option,
    run_checks,
    summary_line,
    targets_from_outputs,
)

HELP = "Health-check every service of a stack (retries, JUnit report)."


def make_app(read_outputs: OutputsReader | None = None) -> typer.Typer:
    """The `smoke` sub-app; `read_outputs(stack, context)` returns live stack outputs when an
    engine exists (context: the project the CLI's entry resolved)."""
    app = typer.Typer(help=HELP, subcommand_metavar="")

    # A callback rather than a command: mounted with add_typer, `azora smoke --stack S` then
    # runs it directly instead of wanting a sub-command name.
    @app.callback(invoke_without_command=True)
    def smoke(
        ctx: typer.Context,
        stack: str = typer.Option(
            ..., "--stack", "-s", help="Stack name (local, staging, production).", show_default=False
        ),
        base_url: str | None = typer.Option(
            None, "--base-url", help="Reach every service at <URL>/<Service><healthPath>.", show_default=False
        ),
        services: list[str] = typer.Option(
            [], "--service", help="NAME=URL of a health endpoint; repeatable.", show_default=False
        ),
        outputs_file: Path | None = typer.Option(
            None,
            "--outputs",
            envvar="AZORA_STACK_OUTPUTS",
            help="JSON of `pulumi stack output --json` for the stack.",
            show_default=False,
        ),
        preview: bool = typer.Option(False, "--preview", help="Check the preview (idle colour) Services."),
        junit: Path | None = typer.Option(
            None, "--junit", help="JUnit XML report path (default reports/smoke-<stack>.xml).", show_default=False
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON report."),
        retries: int = typer.Option(3, "--retries", help="Extra attempts per service after a failure."),
        timeout: float = typer.Option(5.0, "--timeout", help="Seconds per request."),
        backoff: float = typer.Option(0.5, "--backoff", help="First wait between attempts; doubles each time."),
    ) -> None:
        """Exit 0 when every service is healthy, 1 when any is not, 2 for bad input."""
        try:
            policy = _policy(retries, timeout, backoff)
            context = of(ctx)
            reader = (lambda name: read_outputs(name, context)) if read_outputs is not None else None
            targets = _targets(stack, base_url, services, outputs_file, preview, reader, context)
        except SmokeInputError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        if not as_json:
            err.print(f"smoke {escape(stack)}: checking {len(targets)} service(s)…")
        results = run_checks(targets, policy)
        report = junit or Path("reports") / f"smoke-{stack}.xml"
        try:
            write_junit(report, f"smoke-{stack}", junit_cases(results, stack))
        except OSError as exc:
            err.print(
                f"[red]error:[/] cannot write JUnit report {escape(str(report))}: {escape(exc.strerror or str(exc))}"
            )
            raise typer.Exit(2) from None
        _print(results, stack, report, as_json)
        raise typer.Exit(0 if all(r.ok for r in results) else 1)

    return app


app = make_app()


def _policy(retries: int, timeout: float, backoff: float) -> RetryPolicy:
    if retries < 0:
        raise SmokeInputError(f"--retries must be >= 0, got {retries}")
    if timeout <= 0:
        raise SmokeInputError(f"--timeout must be > 0, got {timeout:g}")
    if backoff < 0:
        raise SmokeInputError(f"--backoff must be >= 0, got {backoff:g}")
    return RetryPolicy(retries=retries, backoff=backoff, timeout=timeout)


def _targets(
    stack: str,
    base_url: str | None,
    service_options: list[str],
    outputs_file: Path | None,
    preview: bool,
    read_outputs: Callable[[str], Mapping[str, Any]] | None,
    context: Context,
) -> list[Target]:
    explicit = dict(parse_service_option(text) for text in service_options)
    if explicit and base_url is None and outputs_file is None:
        # Only explicit URLs: no need for outputs at all.
        return [Target(name, url) for name, url in explicit.items()]
    outputs = _outputs(stack, base_url, outputs_file, read_outputs, context)
    found = targets_from_outputs(outputs, base_url, preview)
    if base_url is None and outputs_file is None:
        found = _reachable(stack, found, context)
    targets = {t.service: t for t in found}
    for name, url in explicit.items():
        targets[name] = Target(name, url)
    return list(targets.values())


def _reachable(stack: str, targets: list[Target], context: Context) -> list[Target]:
    """On the embedded real node, in-cluster URLs through the Services' ClusterIPs."""
    from azora.cluster.lifecycle import api_for
    from azora.cluster.services import host_targets
    from azora.commands.stack import embedded_real_node

    try:
        layout = embedded_real_node(context, stack)
        return host_targets(targets, api_for(layout)) if layout is not None else targets
    except (AzoraError, ConfigError) as exc:
        raise SmokeInputError(f"stack {stack}: {exc}") from None


def _outputs(
    stack: str,
    base_url: str | None,
    outputs_file: Path | None,
    read_outputs: Callable[[str], Mapping[str, Any]] | None,
    context: Context,
) -> Mapping[str, Any]:
    if outputs_file is not None:
        return load_outputs_file(outputs_file)
    if read_outputs is not None:
        try:
            return read_outputs(stack)
        except ConfigError as exc:
            raise SmokeInputError(str(exc)) from None
        # The reader is a plug-in (the Pulumi engine): whatever it raises (no toolchain, no
        # such stack, backend down) is reported in one line, never as a traceback.
        except Exception as exc:
            reason = str(exc) if isinstance(exc, OutputsUnavailable) else f"{type(exc).__name__}: {exc}"
            if base_url is None:
                raise SmokeInputError(f"stack {stack}: cannot read stack outputs: {reason}") from None
            err.print(f"[yellow]warning:[/] stack outputs unavailable ({escape(reason)}); using Pulumi.{stack}.yaml")
    if base_url is None:
        raise SmokeInputError(
            f"stack {stack}: reading live stack outputs needs the Pulumi engine, which is not available here; "
            "pass --outputs FILE (the JSON of `pulumi stack output --json`), --base-url URL or --service NAME=URL"
        )
    return _outputs_from_stack_file(stack, context)


def _outputs_from_stack_file(stack: str, context: Context) -> dict[str, Any]:
    try:
        path = context.project.stack_file(stack)
    except BadInput as exc:
        raise SmokeInputError(
            f"stack {stack}: no outputs, and {exc}; pass --outputs FILE or --service NAME=URL"
        ) from None
    if not path.is_file():
        raise SmokeInputError(
            f"stack {stack}: no outputs and no {path.name} in {path.parent} to list the services; "
            "pass --outputs FILE or --service NAME=URL"
        )
    try:
        return outputs_from_config(load_stack_file(path))
    except ConfigError as exc:
        raise SmokeInputError(str(exc)) from None


def _print(results: list[Result], stack: str, report: Path, as_json: bool) -> None:
    healthy = all(r.ok for r in results)
    if as_json:
        print(
            json.dumps(
                {"stack": stack, "healthy": healthy, "junit": str(report), "results": [r.as_dict() for r in results]},
                indent=2,
            )
        )
        return
    name_width = max(len(r.target.service) for r in results)
    url_width = max(len(r.target.url) for r in results)
    for r in results:
        mark = "[green]✓[/]" if r.ok else "[red]✗[/]"
        service = escape(r.target.service.ljust(name_width))
        url = escape(r.target.url.ljust(url_width))
        out.print(f"{mark} {service}  {url}  {escape(summary_line(r))}")
    failed = sum(1 for r in results if not r.ok)
    if failed:
        out.print(f"[red]{failed} of {len(results)} services unhealthy[/]")
    else:
        out.print(f"[green]all {len(results)} services healthy[/]")
    err.print(f"JUnit report: {escape(str(report))}")


if __name__ == "__main__":  # `python -m azora.commands.smoke` until the command is mounted in azora.cli
    app(prog_name="azora smoke")
