"""`up`, `down` and `status` of an embedded cluster.

`up` is idempotent: it starts what is not running (a crashed component is restarted, with the
reason in the progress lines), waits until each component is healthy and the node is Ready.
For a real node it first records and makes the host network (azora.cluster.network) and
imports the sandbox image once containerd answers. `down` stops every recorded process by pid,
in reverse order; for a real node it also removes the containers, mounts, cgroups and network
the node made, and restores the sysctls. With `purge` it deletes the cluster directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from azora.cluster import network, processes, sandboxes
from azora.cluster.api import Api, default_service_account, ensure_coredns_role, ensure_node, node_ready
from azora.cluster.components import COMPONENTS, Component, Context, components_for
from azora.cluster.layout import REAL, SIMULATED, ClusterError, Layout, port_in_use
from azora.cluster.node import SYSTEM_PATH, NodePaths
from azora.cluster.pki import Pki
from azora.errors import AzoraError

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
    ingress_url: str | None = None  # the real node's ingress on 127.0.0.1


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
    if component.binary_path(ctx) is None:
        if component.system:
            raise ClusterError(
                f"{component.binary} is not installed; the real node needs Debian's containerd, runc, "
                "containernetworking-plugins and socat (apt-get install containerd runc "
                "containernetworking-plugins socat), or use `azora cluster up --node simulated`"
            )
        raise ClusterError(f"{ctx.bin_dir / component.binary} is missing; run `azora tools install --with cluster`")
    where = "a unix socket"
    if component.port is not None:
        port = getattr(ctx.ports, component.port)
        if port_in_use(port, component.address):
            raise ClusterError(
                f"port {port} on {component.address} (for {component.name}) is taken by a process this cluster "
                "did not start; stop it, or recreate the cluster with new ports: azora cluster down --purge && "
                "azora cluster up"
            )
        where = component.listens_on(ctx)
    progress(f"starting {component.name} on {where}")
    env = {
        **os.environ,
        "PATH": f"{SYSTEM_PATH}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return processes.start(component.argv(ctx), ctx.layout.log(component.name), ctx.layout.record(component.name), env)


def _before(component: Component, ctx: Context, progress: Progress) -> None:
    """What a real node's component needs before it starts (each step is idempotent)."""
    if component.name == "containerd":
        network.check_prerequisites()
        clear_stale_node(ctx.layout.root, ctx.bin_dir, progress)
        network.claim(ctx.layout.root)
        network.setup(progress)
    elif component.name == "kubelet":
        sandboxes.ensure_cgroup_root()
        from azora.images import ensure_pause_image  # the image builder is only the real node's

        ensure_pause_image(str(ctx.node.containerd_socket), ctx.bin_dir / "pause", progress=progress)
    elif component.name == "coredns":
        ensure_coredns_role(api_for(ctx.layout))


def up(
    layout: Layout,
    bin_dir: Path,
    progress: Progress = _quiet,
    timeout: float = 120.0,
    lifetime: float | None = None,
    node: str | None = None,
) -> ClusterInfo:
    """Bring every component up (starting only what is not running) and wait for the node.
    `node` (real or simulated) is fixed when the cluster is made; None keeps what it has."""
    deadline = time.monotonic() + timeout
    started: list[str] = []
    with _locked(layout):
        if not layout.exists():
            progress(f"creating a cluster with a {node or REAL} node in {layout.root}")
            ports = layout.create(node or REAL)
            Pki(layout).create(ports.apiserver)
        kind = layout.node_kind()
        if node is not None and node != kind:
            raise ClusterError(
                f"the cluster in {layout.root} has a {kind} node; to make one with a {node} node: "
                f"azora cluster down --purge && azora cluster up --node {node}"
            )
        pki = Pki(layout)
        if not pki.complete():
            progress("credentials incomplete; making new ones")
            pki.create(layout.load_ports().apiserver)
        if kind == REAL and (missing := pki.missing_serving_names()):
            _renew_certificates(layout, pki, missing, progress)
        ctx = context(layout, bin_dir)
        try:
            for component in components_for(kind):
                record = processes.read(layout.record(component.name))
                if record is not None and processes.is_running(record):
                    _wait_healthy(component, ctx, record, deadline)
                    progress(f"{component.name} is running (pid {record.pid})")
                    continue
                if record is not None:
                    progress(f"{component.name} (pid {record.pid}) is not running any more; restarting it")
                _before(component, ctx, progress)
                record = _start(component, ctx, progress)
                _remember(layout)
                started.append(component.name)
                _wait_healthy(component, ctx, record, deadline)
                progress(f"{component.name} is healthy (pid {record.pid})")
            api = api_for(layout)
            if kind == SIMULATED:
                ensure_node(api)
            while not (node_ready(api) and default_service_account(api)):
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the {kind} node did not become Ready or the default service account did not appear "
                        f"in time; see {layout.logs}/{'kwok' if kind == SIMULATED else 'kubelet'}.log "
                        "and kube-controller-manager.log"
                    )
                time.sleep(0.2)
        except (AzoraError, KeyboardInterrupt) as exc:  # the cluster's, an image's (azora.images), or Ctrl-C
            # A failed or interrupted `up` leaves nothing running that it started itself (no
            # supervisor would bound its life), and a node it began leaves nothing on the host.
            stopped = [name for name in reversed(started) if _stop_recorded(layout, name)]
            if "containerd" in started and not _any_running(layout, (c.name for c in NODE_COMPONENTS)):
                sandboxes.clean(NodePaths(layout), layout.root, _quiet)
                network.teardown(layout.root, _quiet, bin_dir / "kube-proxy")
            if isinstance(exc, KeyboardInterrupt):
                raise
            if stopped:
                raise ClusterError(f"{exc}\n(stopped what this attempt started: {', '.join(stopped)})") from None
            raise
        progress("node Ready")
        _ensure_supervisor(layout, bin_dir, lifetime)
        _remember(layout)
    return ClusterInfo(layout.kubeconfig, api.server, started, ingress_url(layout))


NODE_COMPONENTS = tuple(c for c in COMPONENTS if c.kinds == (REAL,))
STOP_ORDER = (WATCHDOG, *(c.name for c in reversed(COMPONENTS)))  # nothing restarts what is stopped


def _renew_certificates(layout: Layout, pki: Pki, missing: list[str], progress: Progress) -> None:
    """A real node's cluster made by an older azora: its API server's certificate lacks names a
    pod dials (NODE_IP, say). New certificates, while nothing runs that has read the old CA."""
    if _any_running(layout, (c.name for c in COMPONENTS)):
        raise ClusterError(
            f"the API server's certificate ({pki.serving_cert}) lacks {', '.join(missing)}, which pods reach it "
            "by (it was made by an older azora); the running components read the certificates when they "
            "started: `azora cluster down`, then `azora cluster up` renews them"
        )
    progress(
        f"the API server's certificate lacks {', '.join(missing)} (made by an older azora); renewing the "
        "certificates (the tokens stay, the kubeconfig gets the new CA)"
    )
    pki.renew_certificates(layout.load_ports().apiserver)


def clear_stale_node(root: Path | None, bin_dir: Path, progress: Progress = _quiet) -> str | None:
    """Clear the real node another cluster left on this machine when nothing of that cluster
    runs any more (its processes were killed with their session, or the machine's /tmp was
    wiped): the same `down` a person would run, named in the progress lines. A cluster with any
    live process, or one whose `up`/`down` holds its lock, is left alone (`claim` then refuses,
    naming it). Returns the directory that was cleared."""
    record = network.read_record()
    owner = record.get("owner") if record else None
    if not isinstance(owner, str) or (root is not None and owner == str(root)):
        return None
    other = Layout(Path(owner))
    names = (WATCHDOG, *(c.name for c in COMPONENTS))
    if other.root.exists() and (_any_running(other, names) or busy(other)):
        return None
    progress(
        f"the real node of the cluster in {owner} was left on this machine and none of that cluster's "
        "processes run; clearing it (azora cluster down --dir ...)"
    )
    down(other, progress=progress, bin_dir=bin_dir)
    return owner


def busy(layout: Layout) -> bool:
    """Another process holds the cluster's lock (an `up` or `down` under way)."""
    lock = layout.root / ".lock"
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _any_running(layout: Layout, names: Iterable[str]) -> bool:
    """Any of the named processes (components, the supervisor) of this cluster runs."""
    records = [processes.read(layout.record(name)) for name in names]
    return any(r is not None and processes.is_running(r) for r in records)


def _stop_recorded(layout: Layout, name: str) -> bool:
    path = layout.record(name)
    record = processes.read(path)
    path.unlink(missing_ok=True)
    return record is not None and processes.stop(record)


def _ensure_supervisor(layout: Layout, bin_dir: Path, lifetime: float | None) -> None:
    """Start the supervisor (azora.cluster.watchdog), which restarts crashed components and,
    with a `lifetime`, runs `down` after that many seconds, so a cluster a test started can
    never outlive its time limit, even if the test process dies. A running supervisor is kept
    (with its deadline) unless a new lifetime is given."""
    old = processes.read(layout.record(WATCHDOG))
    if old is not None and old.pid == os.getpid():
        return  # the supervisor itself is restarting a component
    if old is not None and processes.is_running(old):
        if lifetime is None:
            return
        processes.stop(old, grace=2)
    deadline = "none" if lifetime is None else str(time.time() + lifetime)
    processes.start(
        [sys.executable, "-m", "azora.cluster.watchdog", str(layout.root), str(bin_dir), deadline],
        layout.log(WATCHDOG),
        layout.record(WATCHDOG),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def down(layout: Layout, purge: bool = False, progress: Progress = _quiet, bin_dir: Path | None = None) -> list[str]:
    """Stop every process this cluster started (reverse order, by pid), then remove what a
    real node left on the host. Returns the names of the processes that were running.

    A process is found by its record in the cluster's directory or, when that is gone (the
    directory deleted while the cluster ran), by the copy the machine's node record keeps. The
    node's containers, mounts and cgroups are touched only while no other cluster's node holds
    the machine: the cgroups under /azora are the machine's one real node's, whoever it is."""
    stopped = []
    paths = NodePaths(layout)
    kube_proxy = (bin_dir or _recorded_binary_dir(layout, "kube-proxy")) / "kube-proxy"
    holder = network.read_record()
    node_is_ours = holder is None or holder.get("owner") == str(layout.root)
    copies = network.remembered_processes(layout.root)
    with _locked(layout) if layout.root.exists() else contextlib.nullcontext():
        for name in STOP_ORDER:
            if name == "containerd" and node_is_ours:
                # Kubelet is stopped: nothing restarts the pods now.
                sandboxes.stop_containers(paths, progress)
            if _stop_one(layout, name, copies.get(name), progress):
                stopped.append(name)
        if node_is_ours:
            sandboxes.release(paths, layout.root, progress)  # the containers were stopped above
    network.teardown(layout.root, progress, kube_proxy)
    if purge and layout.root.exists():
        try:
            shutil.rmtree(layout.root)
        except OSError as exc:
            raise ClusterError(
                f"stopped the cluster but could not remove {layout.root}: {exc.strerror} "
                f"({exc.filename}); something outside the cluster's records still uses it "
                f"(`findmnt -R {layout.root}`, `fuser -vm {layout.root}`)"
            ) from None
        progress(f"removed {layout.root}")
    return stopped


def _stop_one(layout: Layout, name: str, copy: Any, progress: Progress) -> bool:
    """Stop the process of `name` by its record, or by the node record's `copy` of it when the
    record is gone. A record whose pid now runs another process is passed over."""
    path = layout.record(name)
    record, source = processes.read(path), ""
    if record is None and copy is not None:
        record, source = processes.from_fields(copy), ", which only the machine's node record still named"
    running = False
    if record is not None and record.pid != os.getpid():
        running = processes.stop(record)
        if running:
            progress(f"stopped {name} (pid {record.pid}){source}")
    path.unlink(missing_ok=True)  # only once the process is stopped: an interrupted down can run again
    return running


def _remember(layout: Layout) -> None:
    """Keep a copy of the cluster's process records in the machine's node record (a real
    node's cluster only; see network.remember_processes)."""
    records = {path.stem: processes.read(path) for path in sorted(layout.run.glob("*.json"))}
    network.remember_processes(layout.root, {name: asdict(r) for name, r in records.items() if r is not None})


def _recorded_binary_dir(layout: Layout, name: str) -> Path:
    """The toolchain directory a component was started from (its record's argv)."""
    record = processes.read(layout.record(name))
    return Path(record.argv[0]).parent if record is not None and record.argv else Path("/nonexistent")


def status(layout: Layout) -> list[ComponentStatus]:
    """Each component's state: running (and healthy), unhealthy, crashed (recorded but gone)
    or stopped (never started, or stopped by `down`)."""
    rows = []
    ctx = context(layout, Path()) if layout.exists() else None
    for component in components_for(layout.node_kind() if ctx is not None else REAL):
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
            rows.append(ComponentStatus(component.name, state, record.pid, problem or component.listens_on(ctx), log))
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


def ingress_url(layout: Layout) -> str | None:
    """Where a browser reaches the stack's Ingress hosts (a real node only)."""
    return f"http://127.0.0.1:{layout.load_ports().ingress}/" if layout.node_kind() == REAL else None


def real_node(kubeconfig: Path) -> Layout | None:
    """The embedded cluster with a real node whose kubeconfig this is, or None."""
    layout = embedded_layout(kubeconfig)
    return layout if layout is not None and layout.node_kind() == REAL else None


def kubectl_env_line(layout: Layout) -> str:
    return f"export KUBECONFIG={layout.kubeconfig}"
