"""`azora e2e --stack S [--base-url URL]`: the browser suites in headless Chromium; exit = pytest's.

Where the web app is: `--base-url`; without it, for a stack on the embedded cluster's real
node, that cluster's ingress (`http://127.0.0.1:<port>/`, which sends the bare address to the
web frontend), checked to answer first. Any other stack needs `--base-url`.

pytest's own exit codes pass through (0 passed, 1 tests failed, 2-5 pytest problems); bad
input or a missing prerequisite (no Chromium, no pytest-playwright, no URL, an ingress that
does not answer) exits 2 before pytest runs.
"""

from __future__ import annotations

import http.client
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from azora.console import err
from azora.context import Context, of
from azora.e2e import SUITES, E2EInputError, E2EPlan, check_plugins, resolve_chromium, run, suite_files
from azora.errors import AzoraError, BadInput
from azora.smoke import check_url

INGRESS_HEALTH = ".azora/ingress/healthz"  # the embedded ingress controller's own endpoint


class Suite(StrEnum):
    """The shipped suites (azora/e2e/suites/test_<suite>.py); kept equal to azora.e2e.SUITES by a test."""

    auth = "auth"
    enrollment = "enrollment"
    payment = "payment"
    health = "health"


app = typer.Typer(
    help="Run the browser suites (auth, enrollment, payment, health) against a URL.", subcommand_metavar=""
)


def base_url_for(context: Context, stack: str, given: str | None) -> str:
    """The web app's URL: `given` (--base-url) when there is one, else the ingress of the
    embedded real node the stack targets. BadInput, naming --base-url, when neither exists."""
    if given is not None:
        return check_url(given, "--base-url").rstrip("/")
    from azora.cluster.lifecycle import ingress_url
    from azora.commands.stack import embedded_real_node  # the engine's imports: only when needed

    try:
        layout = embedded_real_node(context, stack)
        url = ingress_url(layout) if layout is not None else None
    except AzoraError as exc:
        raise BadInput(f"stack {stack}: {exc}; pass --base-url URL (where the web app is served)") from None
    if url is None:
        raise BadInput(
            f"stack {stack} does not target the embedded cluster's real node, so there is no URL to default to; "
            "pass --base-url URL (where the web app is served)"
        )
    return url.rstrip("/")


def check_ingress(base_url: str, timeout: float = 3.0) -> None:
    """The embedded cluster's ingress answers its health endpoint, else BadInput saying what to do.
    Asked directly, never through an HTTP proxy from the environment."""
    parts = urlsplit(base_url)
    url = f"{base_url}/{INGRESS_HEALTH}"
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", f"/{INGRESS_HEALTH}")
        response = connection.getresponse()
        text = response.read(200).decode("utf-8", "replace").strip()
        if response.status == 200:
            return
        problem = f"HTTP {response.status}" + (f" ({text})" if text else "")
    except (OSError, http.client.HTTPException) as exc:
        problem = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    finally:
        connection.close()
    raise BadInput(
        f"the embedded cluster's ingress does not answer at {url}: {problem}; "
        "see `azora cluster status` (start it with `make up`), or pass --base-url URL"
    )


# A callback rather than a command, so that the mounted `azora e2e --stack S` runs it directly.
@app.callback(invoke_without_command=True)
def e2e(
    ctx: typer.Context,
    stack: str = typer.Option(
        ..., "--stack", "-s", help="Stack name; labels the reports and lists the services.", show_default=False
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="Where the web app is served (default: the embedded cluster's ingress, for a stack on its real node).",
        show_default=False,
    ),
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
        url = base_url_for(of(ctx), stack, base_url)
        if base_url is None:
            check_ingress(url)
        chromium = resolve_chromium(browser_path)
        check_plugins()
        names = tuple(s.value for s in suites)
        suite_files(names)  # fail here, with exit 2, rather than as a pytest collection error
    except (E2EInputError, BadInput) as exc:  # SmokeInputError is a BadInput
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    plan = E2EPlan(
        stack=stack,
        base_url=url,
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
