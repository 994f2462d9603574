"""bounded-scratch-space: an emptyDir on the node's disk has a bound (kube-linter
`unset-ephemeral-storage-requirements`, for the part that matters under a read-only root).

`read-only-root-filesystem` sends every write to emptyDir volumes, which live on the node's
disk. One that nothing bounds can fill that disk; the kubelet then evicts pods under disk
pressure, other teams' pods among them. The kubelet bounds an emptyDir in two ways, and the rule
accepts either, judging the value that takes effect:

- its own `sizeLimit`, when positive: the kubelet evicts the pod once the volume holds more
  (a `sizeLimit` of 0 is no limit, for the kubelet as for the rule);
- the pod's ephemeral-storage limit: the kubelet adds up its containers' (init containers
  count, as they do for the pod's other limits) and evicts the pod once its emptyDirs, its
  containers' writable layers and its logs together hold more. Any container's
  `resources.limits.ephemeral-storage` gives the pod such a limit, whichever container writes,
  so the rule asks for it on some container of the pod, not on each writer. An
  ephemeral-storage *request* bounds nothing: it only places the pod.

So an emptyDir fails when all of these hold:

- its `medium` is unset or "" (the node's disk). `Memory` and the HugePages media are RAM:
  what is written there counts against the writing container's memory limit, which
  `resource-requests-limits` always demands, and never reaches the disk. A `sizeLimit` still
  caps such a tmpfs below that limit, but that is a memory-sizing choice, not this rule's;
- it has no positive `sizeLimit`;
- some container mounts it: an app, init or ephemeral (debug) container. A volume that nothing
  mounts stays empty. Ephemeral containers cannot set resources at all, so one that mounts the
  volume needs its `sizeLimit` or another container's limit;
- no container of the pod sets an ephemeral-storage limit.

Pods and the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
CronJobs are read (`policy.rules.workloads`). What the rule does not ask for, unlike
kube-linter: ephemeral-storage requests and limits on every container. With a read-only root
the writable layer stays empty and the kubelet rotates container logs, so the emptyDirs are
what can grow. A LimitRange default is applied at admission and is not seen here, as with
`resource-requests-limits`. Generic ephemeral volumes (`ephemeral:`) are claims with a size of
their own and pass.

Advisory: an unbounded scratch volume works until it fills the disk, and the bound a workload
needs is its owner's call. A value not known during preview is reported as unchecked; one known
ephemeral-storage limit is enough to pass whatever else is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import WORKLOADS, Container, containers, pod_spec, pod_spec_path

LIMIT = "ephemeral-storage"
_LEADING_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def _positive(quantity: Any) -> bool:
    """Whether a sizeLimit bounds its volume: the kubelet enforces only a positive one. A value
    that is no quantity at all the API server rejects; it is not this rule's to report."""
    if quantity is None or quantity == "":
        return False
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        return quantity > 0
    match = _LEADING_NUMBER.match(str(quantity).strip())
    return match is None or float(match.group(0)) > 0


def _role(container: Container) -> str:
    if ".ephemeralContainers[" in container.path:
        return "ephemeral container"
    return "init container" if container.init else "container"


def _unbounded_disk_volumes(volumes: list[Any], base: str) -> Iterator[tuple[str, str] | str]:
    """(name, path) of each emptyDir on the node's disk without a positive sizeLimit; the path
    of a part that is not known yet."""
    for index, volume in enumerate(volumes):
        path = f"{base}.volumes[{index}]"
        empty_dir = get(volume, "emptyDir")
        if volume is UNKNOWN or empty_dir is UNKNOWN:
            yield path
            continue
        if empty_dir is None:
            continue
        medium, size, name = get(empty_dir, "medium"), get(empty_dir, "sizeLimit"), get(volume, "name")
        if medium is UNKNOWN:
            yield f"{path}.emptyDir.medium"
        elif medium not in (None, ""):
            continue  # RAM (Memory, HugePages): bounded by memory limits, never on disk
        elif size is UNKNOWN:
            yield f"{path}.emptyDir.sizeLimit"
        elif _positive(size):
            continue
        elif name is UNKNOWN:
            yield f"{path}.name"
        else:
            yield str(name), path


def _pod_limit(pod_containers: list[Container | str]) -> bool | list[str]:
    """True when some container sets an ephemeral-storage limit (the pod then has one); else the
    paths of the parts not known yet that might (none: the pod has no limit)."""
    pending = []
    for container in pod_containers:
        if isinstance(container, str):
            pending.append(container)
            continue
        limit = get(container.spec, "resources", "limits", LIMIT)
        if limit is UNKNOWN:
            pending.append(f"{container.path}.resources.limits.{LIMIT}")
        elif limit not in (None, ""):
            return True
    return pending


def check_scratch_space(resource: Resource, options: Options) -> Iterator[Finding]:
    spec, base = pod_spec(resource), pod_spec_path(resource)
    if spec is UNKNOWN:
        yield unknown(base)
        return
    pod_containers = list(containers(resource, ephemeral=True))
    limit = _pod_limit(pod_containers)
    if limit is True:
        return  # the kubelet bounds every emptyDir of the pod by the pod's limit
    volumes = get(spec, "volumes")
    if volumes is UNKNOWN:
        yield unknown(f"{base}.volumes")
        return
    unbounded: dict[str, str] = {}
    for item in _unbounded_disk_volumes(volumes or [], base):
        if isinstance(item, str):
            yield unknown(item)
        else:
            unbounded[item[0]] = item[1]
    if not unbounded:
        return
    if limit:
        # Whether the pod has a limit decides every such volume: that is what is unchecked.
        yield from (unknown(path) for path in limit)
        return

    writers: dict[str, list[str]] = {name: [] for name in unbounded}
    mounts_unknown: list[str] = []
    for container in pod_containers:
        if isinstance(container, str):
            continue  # reported above, as a part that may hold the pod's limit
        mounts = get(container.spec, "volumeMounts")
        if mounts is UNKNOWN:
            mounts_unknown.append(f"{container.path}.volumeMounts")
            continue
        writer = f"{_role(container)} {container.name!r}"
        for index, mount in enumerate(mounts or []):
            name = get(mount, "name")
            if name is UNKNOWN:
                mounts_unknown.append(f"{container.path}.volumeMounts[{index}].name")
            elif name in writers and writer not in writers[name]:
                writers[name].append(writer)
    unmounted = False
    for name, path in unbounded.items():
        if not writers[name]:
            unmounted = True  # nothing writes to it, unless an unknown mount names it
            continue
        yield Finding(
            f"emptyDir {name!r} ({path}), mounted by {' and '.join(writers[name])}, has no sizeLimit and no "
            f"container of the pod sets resources.limits.{LIMIT}: it can fill the node's disk; set "
            f"{path}.emptyDir.sizeLimit (or an {LIMIT} limit on a container)"
        )
    if unmounted:
        yield from (unknown(part) for part in mounts_unknown)


RULES = [
    Rule(
        name="bounded-scratch-space",
        why="An emptyDir lives on the node's disk; with no sizeLimit and no ephemeral-storage limit in its pod, "
        "one workload can fill the disk and the kubelet then evicts other pods under disk pressure.",
        fix="Set `emptyDir.sizeLimit` to what the workload needs at most (or `resources.limits.ephemeral-storage` "
        "on a container of the pod); memory-backed emptyDirs (`medium: Memory`) are bounded by memory limits.",
        description="Every mounted emptyDir on the node's disk is bounded: by its sizeLimit, or by an "
        "ephemeral-storage limit in its pod.",
        enforcement="advisory",
        check=check_scratch_space,
        types=WORKLOADS,
    ),
]
