"""`azora e2e --stack S --base-url URL`: the browser suites in headless Chromium; exit = pytest's.

pytest's own exit codes pass through (0 passed, 1 tests failed, 2-5 pytest problems); bad
input or a missing prerequisite (no Chromium, no pytest-playwright) exits 2 before pytest runs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from azora.console import err
from azora.context import of
from azora.e2e import SUITES, E2EInputError, E2EPlan, check_plugins, resolve_chromium, run, suite_files
from azora.errors import BadInput
from azora.smoke import SmokeInputError, check_url


class Suite(StrEnum):
    """The shipped suites (azora/e2e/suites/test_<suite>.py); kept equal to azora.e2e.SUITES by a test."""

    auth = "auth"
    enrollment = "enrollment"
    payment = "payment"
    health = "health"


app = typer.Typer(
    help="Run the browser suites (auth, enrollment, payment, health) against a URL.", subcommand_metavar=""
)


# A callback rather than a command, so that the mounted `azora e2e --stack S` runs it directly.
@app.callback(invoke_without_command=True)
def e2e(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", help="Stack name; labels the reports.", show_default=False),
    base_url: str = typer.Option(..., "--base-url", help="Where the web app is served.", show_default=False),
    browser_path: str | None = typer.Option(
        None,
        "--browser-path",
        help="Chromium executable (default $AZORA_CHROMIUM or /usr/bin/chromium).",
        show_default=False,
    ),
    suites: list[Suite] = typer.Option(
        [], "--suite", help="Suite to run; repeatable (default: all).", show_default=False
    ),
    report_dir: Path | None = typer.Option(
        None, "--report-dir", help="Reports and artifacts (default reports/e2e-<stack>).", show_default=False
    ),
    headed: bool = typer.Option(False, "--headed", help="Show the browser window (needs a display)."),
) -> None:
    """Run the suites; screenshots, video and trace of failed tests; HTML and JUnit reports."""
    try:
        check_url(base_url, "--base-url")
        chromium = resolve_chromium(browser_path)
        check_plugins()
        names = tuple(s.value for s in suites)
        suite_files(names)  # fail here, with exit 2, rather than as a pytest collection error
    except (E2EInputError, SmokeInputError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    plan = E2EPlan(
        stack=stack,
        base_url=base_url.rstrip("/"),
        chromium=chromium,
        suites=names,
        report_dir=(report_dir or Path("reports") / f"e2e-{stack}").resolve(),
        headed=headed,
    )
    err.print(f"e2e {escape(stack)}: {', '.join(names or SUITES)} against {escape(plan.base_url)} with {chromium}")
    # The health suite lists the services from the project's stack file (the six defaults outside one).
    try:
        extra = {"AZORA_E2E_STACK_FILE": str(of(ctx).project.stack_file(stack))}
    except BadInput:
        extra = {}
    code = run(plan, extra)
    err.print(f"HTML report: {plan.html}\nJUnit: {plan.junit}\nartifacts of failed tests: {plan.artifacts}")
    raise typer.Exit(code)


if __name__ == "__main__":  # `python -m azora.commands.e2e` until the command is mounted in azora.cli
    app(prog_name="azora e2e")
