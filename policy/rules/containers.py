"""Container rules: requests and limits everywhere, probes on long-running containers,
probes that name only ports their container declares, and no env name set twice."""

from __future__ import annotations

from collections.abc import Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown
from policy.rules.workloads import PROBES, RUN_TO_COMPLETION, WORKLOADS, containers


def check_requests_limits(resource: Resource, options: Options) -> Iterator[Finding]:
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        missing = []
        for section in ("requests", "limits"):
            for amount in ("cpu", "memory"):
                value = get(container.spec, "resources", section, amount)
                if value is UNKNOWN:
                    yield unknown(f"{container.path}.resources.{section}.{amount}")
                elif value in (None, ""):
                    missing.append(f"{section}.{amount}")
        if missing:
            kind = "init container" if container.init else "container"
            yield Finding(
                f"{kind} {container.name!r} ({container.path}) sets no resources.{', resources.'.join(missing)}; "
                "set cpu and memory requests and limits"
            )


def check_probes(resource: Resource, options: Options) -> Iterator[Finding]:
    if resource.type in RUN_TO_COMPLETION:
        return
    # A bare Pod owned by nobody is treated as long-running too.
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        if container.init:
            continue
        missing = []
        for probe in ("livenessProbe", "readinessProbe"):
            value = get(container.spec, probe)
            if value is UNKNOWN:
                yield unknown(f"{container.path}.{probe}")
            elif not value:
                missing.append(probe)
        if missing:
            yield Finding(
                f"container {container.name!r} ({container.path}) has no {' and no '.join(missing)}; "
                "add HTTP or TCP probes on its health endpoint"
            )


def check_probe_ports(resource: Resource, options: Options) -> Iterator[Finding]:
    # A named port resolves only against the container's own ports; a name it does not declare
    # makes the probe fail every time, so the pod never turns ready (or is restarted forever).
    for container in containers(resource):
        if isinstance(container, str):
            yield unknown(container)
            continue
        ports = get(container.spec, "ports")
        if ports is UNKNOWN:
            yield unknown(f"{container.path}.ports")
            continue
        declared = {get(port, "name") for port in ports or []}
        for probe in PROBES:
            for handler in ("httpGet", "tcpSocket"):
                port = get(container.spec, probe, handler, "port")
                if port is UNKNOWN or UNKNOWN in declared:
                    yield unknown(f"{container.path}.{probe}.{handler}.port")
                elif isinstance(port, str) and not port.isdigit() and port not in declared:
                    named = sorted(str(name) for name in declared if name)
                    yield Finding(
                        f"{container.path}.{probe}.{handler}.port names port {port!r}, which container "
                        f"{container.name!r} does not declare (its named ports: {', '.join(named) or 'none'}); "
                        "name a port from its ports[], or give the number"
                    )


def check_duplicate_env(resource: Resource, options: Options) -> Iterator[Finding]:
    # The kubelet keeps the last of two entries with one name, silently: an override added
    # at the end hides the value a reviewer reads higher up.
    for container in containers(resource):
        if isinstance(container, str):
            continue  # check_requests_limits names the unknown container
        env = get(container.spec, "env")
        if not isinstance(env, list):
            continue
        seen: dict[str, int] = {}
        for index, entry in enumerate(env):
            name = get(entry, "name")
            if not isinstance(name, str):
                continue
            if name in seen:
                yield Finding(
                    f"{container.path}.env[{index}] sets {name!r} again (first at env[{seen[name]}]); only the "
                    "last one counts - keep one"
                )
            else:
                seen[name] = index


RULES = [
    Rule(
        name="resource-requests-limits",
        why="Without requests the scheduler overcommits nodes; without limits one pod can starve the rest.",
        fix="Set `resources.requests` and `resources.limits` for cpu and memory on every container.",
        description="Every container, init containers too, sets CPU and memory requests and limits.",
        enforcement="mandatory",
        check=check_requests_limits,
        types=WORKLOADS,
    ),
    Rule(
        name="health-probes",
        why="Without readiness, traffic reaches pods that cannot serve; without liveness, a hung pod never restarts.",
        fix="Add `livenessProbe` and `readinessProbe` (HTTP on the health path).",
        description="Long-running containers have liveness and readiness probes.",
        enforcement="mandatory",
        check=check_probes,
        types=WORKLOADS,
    ),
    Rule(
        name="probe-port-declared",
        why="A probe naming a port its container does not declare fails every time: the pod never turns ready, "
        "or its liveness probe restarts it forever.",
        fix="Name a port from the container's `ports[].name`, or give the port number.",
        description="Probes that name a port (httpGet or tcpSocket) name one their container declares.",
        enforcement="mandatory",
        check=check_probe_ports,
        types=WORKLOADS,
    ),
    Rule(
        name="no-duplicate-env",
        why="Of two env entries with one name the last wins, silently; the value a reviewer reads may not be the "
        "one the container gets.",
        fix="Keep one entry per name.",
        description="No container sets an env name twice.",
        enforcement="advisory",
        check=check_duplicate_env,
        types=WORKLOADS,
    ),
]
