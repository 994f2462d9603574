"""Live progress and diffs of engine runs, from the engine's structured events.

`pulumi up` shows each resource's step and how long it has run; so does `azora up`, `deploy`,
`promote` and `rollback`: a live table on a terminal (rich), one plain line per finished step
when output is piped (CI logs). The same events give the per-resource diff that a confirm
prompt shows before anything is applied, as `pulumi up` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pulumi import automation as auto
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

# Steps that change nothing, and are not worth a line.
QUIET = {auto.OpType.SAME, auto.OpType.READ, auto.OpType.REFRESH}
SYMBOLS = {
    auto.OpType.CREATE: "+",
    auto.OpType.UPDATE: "~",
    auto.OpType.DELETE: "-",
    auto.OpType.REPLACE: "+-",
    auto.OpType.CREATE_REPLACEMENT: "++",
    auto.OpType.DELETE_REPLACED: "--",
}


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def resource_type(urn: str, fallback: str = "") -> str:
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 2 else fallback


@dataclass(frozen=True)
class Change:
    """One resource a run would change, and the properties that differ."""

    op: str
    name: str
    type: str
    properties: tuple[str, ...]

    def line(self) -> str:
        symbol = SYMBOLS.get(auto.OpType(self.op), "?") if self.op in {o.value for o in auto.OpType} else "?"
        props = f": {', '.join(self.properties)}" if self.properties else ""
        return f"{symbol} {self.op:<8} {self.name} ({self.type}){props}"


def changes(events: list[auto.events.EngineEvent]) -> list[Change]:
    """The resources a preview (or an update) changes, with the property paths that differ."""
    found = []
    for event in events:
        pre = event.resource_pre_event
        if pre is None or pre.metadata.op in QUIET:
            continue
        meta = pre.metadata
        if meta.type == "pulumi:pulumi:Stack":
            continue
        properties = tuple(sorted(meta.detailed_diff or {})) or tuple(meta.diffs or ())
        found.append(Change(meta.op.value, resource_name(meta.urn), resource_type(meta.urn, meta.type), properties))
    return found


@dataclass
class _Step:
    op: str
    name: str
    type: str
    started: float
    finished: float | None = None
    failed: bool = False


@dataclass
class ProgressView:
    """Consumes engine events; shows what runs now (terminal) or what finished (piped)."""

    console: Console
    on_output: Callable[[str], None] | None = None  # the engine's own text (--verbose)
    live: Live | None = None
    steps: dict[str, _Step] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def __call__(self, event: auto.events.EngineEvent) -> None:
        pre, done, failed = event.resource_pre_event, event.res_outputs_event, event.res_op_failed_event
        if pre is not None and pre.metadata.op not in QUIET and pre.metadata.type != "pulumi:pulumi:Stack":
            meta = pre.metadata
            self.steps[meta.urn] = _Step(
                meta.op.value, resource_name(meta.urn), resource_type(meta.urn, meta.type), time.monotonic()
            )
            if self.live is None:
                self.console.print(f"  {meta.op.value} {escape(resource_name(meta.urn))} …", highlight=False)
        elif done is not None and done.metadata.urn in self.steps:
            self._finish(done.metadata.urn, failed=False)
        elif failed is not None and failed.metadata.urn in self.steps:
            self._finish(failed.metadata.urn, failed=True)
        if self.live is not None:
            self.live.update(self.table())

    def _finish(self, urn: str, failed: bool) -> None:
        step = self.steps[urn]
        step.finished, step.failed = time.monotonic(), failed
        if self.live is None:
            verdict = "failed" if failed else "done"
            took = step.finished - step.started
            self.console.print(
                f"  {step.op} {escape(step.name)} ({escape(step.type)}) {verdict} in {took:.1f} s", highlight=False
            )

    def table(self) -> Table:
        now = time.monotonic()
        table = Table("resource", "type", "step", "elapsed", box=None, pad_edge=False)
        for step in self.steps.values():
            state = "[red]failed[/]" if step.failed else ("done" if step.finished else "[yellow]running[/]")
            elapsed = (step.finished or now) - step.started
            table.add_row(escape(step.name), escape(step.type), f"{step.op} {state}", f"{elapsed:.1f} s")
        table.caption = f"{now - self.started:.1f} s"
        return table


@contextmanager
def progress_view(
    console: Console, title: str, enabled: bool = True, on_output: Callable[[str], None] | None = None
) -> Iterator[ProgressView | None]:
    """A ProgressView for one run: live on a terminal, plain lines when piped; None when off.
    The engine's own text (`on_output`, with --verbose) replaces the live table."""
    if not enabled:
        yield None
        return
    console.print(f"{escape(title)} …", highlight=False)
    if console.is_terminal and on_output is None:
        view = ProgressView(console)
        with Live(view.table(), console=console, refresh_per_second=4, transient=False) as live:
            view.live = live
            yield view
    else:
        yield ProgressView(console, on_output)
