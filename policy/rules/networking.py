"""Service and Ingress rules: no NodePort, LoadBalancer only at the edge, no external IPs, TLS,
no raw nginx configuration in Ingress annotations."""

from __future__ import annotations

from collections.abc import Iterator

from policy.rules.model import UNKNOWN, Finding, Options, Resource, Rule, get, unknown

SERVICE = frozenset({"kubernetes:core/v1:Service"})
INGRESS = frozenset({"kubernetes:networking.k8s.io/v1:Ingress"})
INGRESS_CONTROLLERS = ["ingress-nginx"]


def check_node_port(resource: Resource, options: Options) -> Iterator[Finding]:
    kind = get(resource.props, "spec", "type")
    if kind is UNKNOWN:
        yield unknown("spec.type")
    elif kind == "NodePort":
        yield Finding("spec.type is NodePort; use ClusterIP behind the ingress controller")


def check_load_balancer(resource: Resource, options: Options) -> Iterator[Finding]:
    kind = get(resource.props, "spec", "type")
    if kind is UNKNOWN:
        yield unknown("spec.type")
        return
    if kind != "LoadBalancer":
        return
    allowed = options.get("ingressControllers") or INGRESS_CONTROLLERS
    name = resource.labels.get("app.kubernetes.io/name")
    if name not in allowed:
        yield Finding(
            f"spec.type is LoadBalancer but the Service is not an ingress controller "
            f"(app.kubernetes.io/name {name!r} not in {allowed}); route through an Ingress"
        )


def check_external_ips(resource: Resource, options: Options) -> Iterator[Finding]:
    ips = get(resource.props, "spec", "externalIPs")
    if ips is UNKNOWN:
        yield unknown("spec.externalIPs")
    elif ips:
        yield Finding(f"spec.externalIPs is set ({', '.join(map(str, ips))}); remove it (CVE-2020-8554)")


def check_ingress_tls(resource: Resource, options: Options) -> Iterator[Finding]:
    tls = get(resource.props, "spec", "tls")
    rules = get(resource.props, "spec", "rules")
    if tls is UNKNOWN or rules is UNKNOWN:
        yield unknown("spec.tls")
        return
    if not tls:
        yield Finding("spec.tls is empty; serve every host over TLS (a tls entry with hosts and secretName)")
        return
    covered: set[str] = set()
    catch_all = False  # a tls entry without hosts: the controller's default certificate, for any host
    for index, entry in enumerate(tls):
        hosts = get(entry, "hosts")
        if hosts is UNKNOWN or entry is UNKNOWN or (isinstance(hosts, list) and UNKNOWN in hosts):
            yield unknown(f"spec.tls[{index}].hosts")
            return
        catch_all = catch_all or not hosts
        covered.update(host for host in hosts or [] if isinstance(host, str))
    for index, rule in enumerate(rules or []):
        host = get(rule, "host")
        if host is UNKNOWN:
            yield unknown(f"spec.rules[{index}].host")
        elif isinstance(host, str) and host and host not in covered:
            yield Finding(f"host {host!r} has no tls entry; add it to spec.tls[].hosts")
        elif not host and not catch_all:
            yield Finding(
                f"spec.rules[{index}] has no host, so it answers every host name, and no tls entry covers that; "
                "name the host (and list it in spec.tls[].hosts), or add a tls entry without hosts"
            )


SNIPPET_PREFIX = "nginx.ingress.kubernetes.io/"


def check_ingress_snippets(resource: Resource, options: Options) -> Iterator[Finding]:
    # ingress-nginx copies *-snippet annotations into nginx.conf as they are: whoever may write
    # an Ingress may then read the controller's Secrets (CVE-2021-25742, CVE-2025-1974).
    for key in sorted(k for k in resource.annotations if isinstance(k, str)):
        if key.startswith(SNIPPET_PREFIX) and key.endswith("-snippet"):
            yield Finding(
                f"metadata.annotations[{key!r}] puts raw nginx configuration into the ingress controller; use "
                "the controller's typed annotations, or configuration the platform reviews in its ConfigMap"
            )


RULES = [
    Rule(
        name="no-node-port",
        why="NodePorts open every node to the outside, outside the ingress controller.",
        fix="Use `type: ClusterIP` and an Ingress.",
        description="Services are not NodePort.",
        enforcement="mandatory",
        check=check_node_port,
        types=SERVICE,
    ),
    Rule(
        name="load-balancer-ingress-only",
        why="Every LoadBalancer is a public entry point with its own cost and exposure.",
        fix="Route through the ingress controller; list real controllers in the `ingressControllers` option.",
        description="Only the ingress controller's Service may be a LoadBalancer.",
        enforcement="mandatory",
        check=check_load_balancer,
        types=SERVICE,
        options={"ingressControllers": INGRESS_CONTROLLERS},
        schema={"ingressControllers": {"type": "array", "items": {"type": "string"}}},
    ),
    Rule(
        name="no-external-ips",
        why="externalIPs can intercept cluster traffic (CVE-2020-8554).",
        fix="Remove `spec.externalIPs`.",
        description="Services set no externalIPs.",
        enforcement="mandatory",
        check=check_external_ips,
        types=SERVICE,
    ),
    Rule(
        name="ingress-tls",
        why="Plain HTTP leaks sessions and credentials.",
        fix="Add `spec.tls` covering every host (cert-manager issues the Secret).",
        description="Every Ingress host is served over TLS.",
        enforcement="mandatory",
        check=check_ingress_tls,
        types=INGRESS,
    ),
    Rule(
        name="ingress-no-snippets",
        why="ingress-nginx pastes snippet annotations into its nginx.conf unchecked; an Ingress author can then "
        "read the controller's Secrets (CVE-2021-25742, CVE-2025-1974).",
        fix="Remove the `nginx.ingress.kubernetes.io/*-snippet` annotation; use a typed annotation instead.",
        description="No Ingress carries an ingress-nginx `*-snippet` annotation (raw nginx configuration).",
        enforcement="mandatory",
        check=check_ingress_snippets,
        types=INGRESS,
    ),
]
