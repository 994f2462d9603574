"""`up`, `down` and `status` of an embedded cluster.

`up` is idempotent: it starts what is not running (a crashed component is restarted, with the
reason in the progress lines), waits until each component is healthy, registers the simulated
node and waits until it is Ready. `down` stops every recorded process by pid, in reverse
order, and with `purge` deletes the cluster directory (data, credentials, logs).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from azora.cluster import processes
from azora.cluster.api import Api, default_service_account, ensure_node, node_ready
from azora.cluster.components import COMPONENTS, Component, Context
from azora.cluster.layout import ClusterError, Layout, port_in_use
from azora.cluster.pki import Pki

WATCHDOG = "watchdog"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # running | unhealthy | crashed | stopped
    pid: int | None
    detail: str
    log: Path


@dataclass(frozen=True)
class ClusterInfo:
    kubeconfig: Path
    server: str
    started: list[str]  # components this call started (empty when all were running)


def _quiet(_: str) -> None:
    pass


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """One `up` or `down` at a time per cluster directory."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with (layout.root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def context(layout: Layout, bin_dir: Path) -> Context:
    return Context(layout, layout.load_ports(), Pki(layout), bin_dir)


def api_for(layout: Layout) -> Api:
    pki = Pki(layout)
    return Api(f"https://127.0.0.1:{layout.load_ports().apiserver}", pki.tokens()["admin"], str(pki.ca_cert))


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text[-lines:])


def _wait_healthy(component: Component, ctx: Context, record: processes.Record, deadline: float) -> None:
    problem: str | None = "not checked"
    while time.monotonic() < deadline:
        if not processes.is_running(record):
            log = ctx.layout.log(component.name)
            raise ClusterError(f"{component.name} exited during start-up; the end of {log}:\n{_log_tail(log)}")
        problem = component.health(ctx)
        if problem is None:
            return
        time.sleep(0.2)
    log = ctx.layout.log(component.name)
    raise ClusterError(f"{component.name} is not healthy ({problem}); the end of {log}:\n{_log_tail(log)}")


def _start(component: Component, ctx: Context, progress: Progress) -> processes.Record:
    binary = ctx.bin_dir / component.binary
    if not binary.exists():
        raise ClusterError(f"{binary} is missing; run `azora tools install --with cluster`")
    port = getattr(ctx.ports, component.port)
    if port_in_use(port):
        raise ClusterError(
            f"port {port} on 127.0.0.1 (for {component.name}) is taken by a process this cluster did not "
            f"start; stop it, or recreate the cluster with new ports: azora cluster down --purge && azora cluster up"
        )
    progress(f"starting {component.name} on 127.0.0.1:{port}")
    return processes.start(component.argv(ctx), ctx.layout.log(component.name), ctx.layout.record(component.name))


def up(
    layout: Layout,
    bin_dir: Path,
    progress: Progress = _quiet,
    timeout: float = 120.0,
    lifetime: float | None = None,
) -> ClusterInfo:
    """Bring every component up (starting only what is not running) and wait for the node."""
    deadline = time.monotonic() + timeout
    started: list[str] = []
    with _locked(layout):
        if not layout.exists():
            progress(f"creating a cluster in {layout.root}")
            ports = layout.create()
            Pki(layout).create(ports.apiserver)
        pki = Pki(layout)
        if not pki.complete():
            progress("credentials incomplete; making new ones")
            pki.create(layout.load_ports().apiserver)
        ctx = context(layout, bin_dir)
        try:
            for component in COMPONENTS:
                record = processes.read(layout.record(component.name))
                if record is not None and processes.is_running(record):
                    _wait_healthy(component, ctx, record, deadline)
                    progress(f"{component.name} is running (pid {record.pid})")
                    continue
                if record is not None:
                    progress(f"{component.name} (pid {record.pid}) is not running any more; restarting it")
                record = _start(component, ctx, progress)
                started.append(component.name)
                _wait_healthy(component, ctx, record, deadline)
                progress(f"{component.name} is healthy (pid {record.pid})")
            api = api_for(layout)
            ensure_node(api)
            while not (node_ready(api) and default_service_account(api)):
                if time.monotonic() > deadline:
                    raise ClusterError(
                        "the simulated node did not become Ready or the default service account did not appear "
                        f"in time; see {layout.logs}/kwok.log and kube-controller-manager.log"
                    )
                time.sleep(0.2)
        except ClusterError as exc:
            # A failed `up` leaves nothing running that it started itself.
            stopped = [name for name in reversed(started) if _stop_recorded(layout, name)]
            if stopped:
                raise ClusterError(f"{exc}\n(stopped what this attempt started: {', '.join(stopped)})") from None
            raise
        progress("node Ready")
        if lifetime is not None:
            _start_watchdog(layout, lifetime)
    return ClusterInfo(layout.kubeconfig, api.server, started)


def _stop_recorded(layout: Layout, name: str) -> bool:
    path = layout.record(name)
    record = processes.read(path)
    path.unlink(missing_ok=True)
    return record is not None and processes.stop(record)


def _start_watchdog(layout: Layout, lifetime: float) -> None:
    """A process that runs `down` after `lifetime` seconds, so a cluster a test started can
    never outlive its time limit, even if the test process dies."""
    old = processes.read(layout.record(WATCHDOG))
    if old is not None:
        processes.stop(old, grace=2)
    processes.start(
        [sys.executable, "-m", "azora.cluster.watchdog", str(layout.root), str(lifetime)],
        layout.log(WATCHDOG),
        layout.record(WATCHDOG),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def down(layout: Layout, purge: bool = False, progress: Progress = _quiet) -> list[str]:
    """Stop every process this cluster started (reverse order, by pid). Returns their names."""
    stopped = []
    if layout.root.exists():
        with _locked(layout):
            for name in [WATCHDOG, *(c.name for c in reversed(COMPONENTS))]:
                path = layout.record(name)
                record = processes.read(path)
                if record is None:
                    continue
                if record.pid == os.getpid():
                    path.unlink(missing_ok=True)
                    continue
                if processes.stop(record):
                    stopped.append(name)
                    progress(f"stopped {name} (pid {record.pid})")
                path.unlink(missing_ok=True)
    if purge and layout.root.exists():
        shutil.rmtree(layout.root)
        progress(f"removed {layout.root}")
    return stopped


def status(layout: Layout) -> list[ComponentStatus]:
    """Each component's state: running (and healthy), unhealthy, crashed (recorded but gone)
    or stopped (never started, or stopped by `down`)."""
    rows = []
    ctx = context(layout, Path()) if layout.exists() else None
    for component in COMPONENTS:
        log = layout.log(component.name)
        record = processes.read(layout.record(component.name))
        if record is None or ctx is None:
            rows.append(ComponentStatus(component.name, "stopped", None, "", log))
        elif not processes.is_running(record):
            rows.append(
                ComponentStatus(
                    component.name, "crashed", record.pid, "not running; `azora cluster up` restarts it", log
                )
            )
        else:
            problem = component.health(ctx)
            state = "running" if problem is None else "unhealthy"
            port = getattr(ctx.ports, component.port)
            rows.append(ComponentStatus(component.name, state, record.pid, problem or f"127.0.0.1:{port}", log))
    return rows


def embedded_layout(kubeconfig: Path) -> Layout | None:
    """The embedded cluster whose kubeconfig this is, or None (any other cluster)."""
    layout = Layout(kubeconfig.parent)
    return layout if layout.exists() and layout.kubeconfig == kubeconfig else None


def check_target(kubeconfig: Path) -> None:
    """Before an engine run on a stack: its kubeconfig exists and, when it is an embedded
    cluster's, every component of that cluster is running."""
    if not kubeconfig.is_file():
        raise ClusterError(f"{kubeconfig} does not exist; start the embedded cluster with `azora cluster up`")
    layout = embedded_layout(kubeconfig)
    if layout is None:
        return  # someone else's cluster: the provider reports what it finds
    down_ = [f"{row.name}: {row.state}" for row in status(layout) if row.state != "running"]
    if down_:
        raise ClusterError(
            f"the embedded cluster in {layout.root} is not running ({', '.join(down_)}); "
            "start it with `azora cluster up`"
        )


def kubectl_env_line(layout: Layout) -> str:
    return f"export KUBECONFIG={layout.kubeconfig}"
