"""The real node's footprint on the host network, made by `up` and undone by `down`.

`up` records, before it changes anything, the sysctls that the node's pieces change (kubelet
sets kernel tunables, the bridge turns on forwarding) and the iptables chains that already
exist. Then it makes the bridge with the pod gateway and the node address, routes the Service
CIDR to the bridge and blackholes the rest of the pod CIDR (so nothing addressed to the
cluster follows the default route out of the machine, even before kube-proxy has synced), and
drops whatever the pods would forward to another interface. `down` undoes exactly what the
record says, also after everything was killed with SIGKILL.

The record is machine-wide (`/run/azora-node.json`, gone after a reboot like everything it
describes): one real node per machine, since the bridge, NODE_IP and kube-proxy's chains are.

Commands are `ip` and `iptables` (iproute2 and Debian's iptables, nft backend): the same
commands kube-proxy and the CNI plugins run, and what a person reads in the logs to check it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from azora.cluster.layout import BRIDGE, NODE_IP, POD_CIDR, POD_GATEWAY, POD_SUBNET, SERVICE_CIDR, ClusterError

HOST_RECORD = Path(os.environ.get("AZORA_NODE_RECORD", "/run/azora-node.json"))
GUARD_CHAIN = "AZORA-FORWARD"
# What kubelet, kube-proxy and the bridge may change; restored by `down`.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.route_localnet",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
# Chains the node's pieces make (kube-proxy and kubelet: KUBE-*, the CNI plugins: CNI-*, ours).
OWNED_CHAIN_PREFIXES = ("KUBE-", "CNI-", "AZORA-")
TABLES = ("filter", "nat", "mangle")
IPTABLES = ("iptables", "ip6tables")
Progress = Callable[[str], None]


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    except FileNotFoundError:
        raise ClusterError(
            f"`{argv[0]}` is not installed; the real node needs it (apt-get install iproute2 iptables)"
        ) from None
    if check and done.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctl(name: str) -> str | None:
    try:
        return _sysctl_path(name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    try:
        _sysctl_path(name).write_text(value + "\n")
    except OSError as exc:
        raise ClusterError(f"cannot set {name}={value} ({exc.strerror}); the real node needs root") from None


def chains(binary: str, table: str) -> list[str]:
    done = _run([binary, "-w", "-t", table, "-S"], check=False)
    if done.returncode != 0:
        return []
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("-N ")]


def read_record() -> dict[str, Any] | None:
    try:
        data = json.loads(HOST_RECORD.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_prerequisites() -> None:
    """One clear line for each thing the real node cannot do without."""
    if os.geteuid() != 0:
        raise ClusterError(
            "the real node needs root (network namespaces, a bridge, iptables); run as root or use `--node simulated`"
        )
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        raise ClusterError(
            "no cgroup hierarchy at /sys/fs/cgroup (kubelet needs cgroups v1 or v2); use `--node simulated`"
        )
    if read_sysctl("net.bridge.bridge-nf-call-iptables") is None:
        raise ClusterError("the br_netfilter module is not loaded (run `modprobe br_netfilter`); Services need it")
    for binary in ("ip", "iptables", "ip6tables"):
        _run([binary, "--version"] if binary != "ip" else [binary, "-V"])


def claim(root: Path) -> None:
    """Record the host's state before the first change (kept across restarts of `up`, so the
    original values survive), or refuse when another cluster's node holds the machine."""
    record = read_record()
    if record is not None:
        owner = record.get("owner")
        if owner != str(root):
            raise ClusterError(
                f"the real node of the cluster in {owner} holds this machine (bridge {BRIDGE}, {NODE_IP}, "
                f"kube-proxy's chains); stop it first: azora cluster down --dir {owner}"
            )
        return
    record = {
        "owner": str(root),
        "sysctls": {name: value for name in SYSCTLS if (value := read_sysctl(name)) is not None},
        "chains": {binary: {table: chains(binary, table) for table in TABLES} for binary in IPTABLES},
        "run_containerd_existed": Path("/run/containerd").exists(),
    }
    _write_record(record)


def _write_record(record: dict[str, Any]) -> None:
    HOST_RECORD.parent.mkdir(parents=True, exist_ok=True)
    tmp = HOST_RECORD.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(HOST_RECORD)


def remember_processes(root: Path, records: dict[str, dict[str, Any]]) -> None:
    """Copy the process records of the cluster in `root` into the machine's node record, which
    outlives the cluster's directory: should that directory be deleted while they run (a /tmp
    cleaner, pytest's old temporary directories), `down` still stops them by their ids. Nothing
    happens unless that cluster's node holds the machine."""
    record = read_record()
    if record is None or record.get("owner") != str(root):
        return
    record["processes"] = records
    _write_record(record)


def remembered_processes(root: Path) -> dict[str, Any]:
    """The process records `remember_processes` kept for the cluster in `root`."""
    record = read_record()
    if record is None or record.get("owner") != str(root) or not isinstance(record.get("processes"), dict):
        return {}
    return dict(record["processes"])


def _link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def _ensure_rule(table: str, chain: str, rule: Sequence[str], insert: bool = False) -> None:
    if _run(["iptables", "-w", "-t", table, "-C", chain, *rule], check=False).returncode != 0:
        verb = ["-I", chain, "1"] if insert else ["-A", chain]
        _run(["iptables", "-w", "-t", table, *verb, *rule])


def setup(progress: Progress) -> None:
    """Make the node's network (idempotent)."""
    if not _link_exists(BRIDGE):
        _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        progress(f"made bridge {BRIDGE}")
    prefix = POD_SUBNET.split("/")[1]
    _run(["ip", "addr", "replace", f"{POD_GATEWAY}/{prefix}", "dev", BRIDGE])
    _run(["ip", "addr", "replace", f"{NODE_IP}/32", "dev", BRIDGE])
    _run(["ip", "link", "set", BRIDGE, "up"])
    _run(["ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", POD_GATEWAY])
    _run(["ip", "route", "replace", "blackhole", POD_CIDR])
    if GUARD_CHAIN not in chains("iptables", "filter"):
        _run(["iptables", "-w", "-N", GUARD_CHAIN])
    _ensure_rule("filter", GUARD_CHAIN, ["-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"])
    _ensure_rule("filter", GUARD_CHAIN, ["!", "-i", BRIDGE, "-o", BRIDGE, "-j", "DROP"])
    _ensure_rule("filter", "FORWARD", ["-j", GUARD_CHAIN], insert=True)
    write_sysctl("net.ipv4.ip_forward", "1")
    write_sysctl("net.bridge.bridge-nf-call-iptables", "1")


def routes() -> dict[str, str]:
    """Destination -> how it is routed, for the cluster's CIDRs (what the tests assert)."""
    done = _run(["ip", "-j", "route", "show", "table", "main"], check=False)
    found: dict[str, str] = {}
    for route in json.loads(done.stdout or "[]"):
        dst = route.get("dst", "")
        if dst in (SERVICE_CIDR, POD_CIDR, POD_SUBNET):
            found[dst] = route.get("type", "unicast") + (f" dev {route['dev']}" if "dev" in route else "")
    return found


def _remove_chains(binary: str, table: str, keep: Sequence[str], progress: Progress) -> list[str]:
    made = [c for c in chains(binary, table) if c not in keep and c.startswith(OWNED_CHAIN_PREFIXES)]
    if not made:
        return []
    rules = _run([binary, "-w", "-t", table, "-S"], check=False).stdout.splitlines()
    for line in rules:
        parts = shlex.split(line)  # a rule's comment is quoted and has spaces
        if parts[:1] == ["-A"] and parts[1] not in made and any(f"-j {c}" in line or f"-g {c}" in line for c in made):
            _run([binary, "-w", "-t", table, "-D", *parts[1:]], check=False)
    for chain in made:
        _run([binary, "-w", "-t", table, "-F", chain], check=False)
    for chain in made:
        _run([binary, "-w", "-t", table, "-X", chain], check=False)
    progress(f"removed {binary} {table} chains: {', '.join(made)}")
    return made


def teardown(root: Path, progress: Progress, kube_proxy: Path | None = None) -> bool:
    """Undo what `claim` and `setup` recorded for the cluster in `root`. Returns False when the
    machine's node record belongs to no cluster or to another one (nothing is touched then)."""
    record = read_record()
    if record is None or record.get("owner") != str(root):
        return False
    if kube_proxy is not None and kube_proxy.exists():
        _run([str(kube_proxy), "--cleanup", "--v=0"], check=False)
    for binary in IPTABLES:
        for table in TABLES:
            _remove_chains(binary, table, record.get("chains", {}).get(binary, {}).get(table, []), progress)
    links = json.loads(_run(["ip", "-j", "link", "show", "master", BRIDGE], check=False).stdout or "[]")
    for link in links:
        _run(["ip", "link", "delete", link["ifname"]], check=False)
    if links:
        progress(f"removed {len(links)} pod interfaces")
    if _link_exists(BRIDGE):
        _run(["ip", "link", "delete", BRIDGE])
        progress(f"removed bridge {BRIDGE} (and its routes)")
    _run(["ip", "route", "delete", "blackhole", POD_CIDR], check=False)
    changed = []
    for name, value in record.get("sysctls", {}).items():
        if read_sysctl(name) != value:
            write_sysctl(name, value)
            changed.append(f"{name}={value}")
    if changed:
        progress(f"restored {', '.join(changed)}")
    if not record.get("run_containerd_existed", True):
        _remove_empty_tree(Path("/run/containerd"))
    HOST_RECORD.unlink(missing_ok=True)
    return True


def _remove_empty_tree(path: Path) -> None:
    """Remove `path` if only empty directories remain under it."""
    if not path.is_dir():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir() and not any(child.iterdir()):
            child.rmdir()
    if not any(path.iterdir()):
        path.rmdir()
