"""Removing what the node's containers leave: processes, mounts, cgroups and shim sockets.

`down` runs this after kubelet stops and before containerd stops; `down --purge` runs it too,
also when every process was killed with SIGKILL and nothing answers any more. It finds each
thing from the node's own records, never by a process name:
- containerd's task bundles (`<state>/io.containerd.runtime.v2.task/k8s.io/<id>`): a shim is
  the parent of a bundle's `init.pid`, trusted only while its working directory is a bundle;
- runc's state under the node's runc root: `runc delete --force` kills a container's
  processes and removes its cgroup;
- processes still in a cgroup under kubelet's cgroup root (`/azora`), which only this node's
  pods use;
- mounts under the cluster directory (overlay root filesystems, network namespaces, volumes),
  deepest first;
- the shims' sockets, which containerd 1.6 keeps in `/run/containerd/s/` under a hash of the
  containerd address, namespace and container id.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from azora.cluster.node import CGROUP_ROOT, NodePaths, system_binary

CGROUP_MOUNT = Path("/sys/fs/cgroup")
SHIM_SOCKETS = Path("/run/containerd/s")
Progress = Callable[[str], None]


def container_ids(paths: NodePaths) -> list[str]:
    ids = set()
    if paths.task_dir.is_dir():
        ids |= {entry.name for entry in paths.task_dir.iterdir() if entry.is_dir()}
    if paths.runc_root.is_dir():
        ids |= {entry.name for entry in paths.runc_root.iterdir() if entry.is_dir()}
    return sorted(ids)


def _shim_pid(bundle: Path) -> int | None:
    """The shim serving a task bundle: containerd 1.6 records no shim pid, so it is the parent
    of the container's init process, trusted only while its working directory is one of this
    node's bundles (a shim works in its sandbox's bundle)."""
    try:
        init = int((bundle / "init.pid").read_text().strip())
        shim = psutil.Process(init).parent()
        if shim is not None and Path(shim.cwd()).parent == bundle.parent:
            return shim.pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def _cgroup_dirs() -> list[Path]:
    """`/azora` in every cgroup hierarchy that has one."""
    if not CGROUP_MOUNT.is_dir():
        return []
    return [
        hier / CGROUP_ROOT.lstrip("/") for hier in CGROUP_MOUNT.iterdir() if (hier / CGROUP_ROOT.lstrip("/")).is_dir()
    ]


def ensure_cgroup_root() -> None:
    """Kubelet's cgroup root must exist in every hierarchy before it starts (cgroups v1; a
    new cpuset starts with no CPUs or memory nodes, so it gets its parent's)."""
    if not CGROUP_MOUNT.is_dir():
        return
    for hier in CGROUP_MOUNT.iterdir():
        if not (hier / "cgroup.procs").exists() or (hier / "cgroup.controllers").exists():
            continue  # not a v1 hierarchy (the unified one, or not a cgroup mount at all)
        target = hier / CGROUP_ROOT.lstrip("/")
        target.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (target / name).exists() and not (target / name).read_text().strip():
                (target / name).write_text((hier / name).read_text())


def cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(line) for line in procs.read_text().split()}
    return pids


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def stop_containers(paths: NodePaths, progress: Progress) -> int:
    """Kill every container and shim of this node. Returns how many containers there were."""
    ids = container_ids(paths)
    shims = {pid for cid in ids if (pid := _shim_pid(paths.task_dir / cid)) is not None}
    runc = system_binary("runc")
    if runc is not None and paths.runc_root.is_dir():
        for cid in ids:
            subprocess.run(
                [str(runc), "--root", str(paths.runc_root), "delete", "--force", cid],
                capture_output=True,
                check=False,
                timeout=30,
            )
    # Whatever still runs in the pods' cgroups (a container runc no longer knows about).
    for _ in range(50):
        left = cgroup_pids()
        if not left:
            break
        _kill(left)
        time.sleep(0.1)
    _kill(shims)
    for pid in shims:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=5)
    if ids:
        progress(f"stopped {len(ids)} containers and {len(shims)} shims")
    return len(ids)


def shim_socket(containerd_address: Path, namespace: str, cid: str) -> Path:
    digest = hashlib.sha256(os.path.join(str(containerd_address), namespace, cid).encode()).hexdigest()
    return SHIM_SOCKETS / digest


def remove_shim_sockets(paths: NodePaths, ids: list[str]) -> None:
    for cid in ids:
        shim_socket(paths.containerd_socket, "k8s.io", cid).unlink(missing_ok=True)


def mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()).rstrip("/") + "/"
    points = {part.mountpoint for part in psutil.disk_partitions(all=True)}
    return sorted((p for p in points if p.startswith(prefix)), key=lambda p: p.count("/"), reverse=True)


def unmount_all(root: Path, progress: Progress) -> int:
    """Unmount everything below `root`, deepest first; a busy mount is detached (lazy)."""
    count = 0
    for _ in range(5):  # a mount can hide another at the same place
        points = mounts_under(root)
        if not points:
            break
        for point in points:
            done = subprocess.run(["umount", point], capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            count += 1
    if count:
        progress(f"unmounted {count} mounts under {root}")
    return count


def remove_cgroups(progress: Progress) -> None:
    removed = 0
    for top in _cgroup_dirs():
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
                removed += 1
        with contextlib.suppress(OSError):
            top.rmdir()
            removed += 1
    if removed:
        progress(f"removed {removed} cgroups under {CGROUP_ROOT}")


def release(paths: NodePaths, root: Path, progress: Progress) -> None:
    """What stopped containers leave: mounts, cgroups and the shims' sockets."""
    unmount_all(root, progress)
    remove_cgroups(progress)
    remove_shim_sockets(paths, container_ids(paths))


def clean(paths: NodePaths, root: Path, progress: Progress) -> None:
    """Everything above, in order (containerd may already be stopped)."""
    stop_containers(paths, progress)
    release(paths, root, progress)
