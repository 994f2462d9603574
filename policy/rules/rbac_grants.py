"""What RBAC objects grant, and to whom: the model the RBAC rules (`policy.rules.rbac`) judge.

A `Grant` is one PolicyRule as the API server's RBAC authorizer reads it: `*` matches every
verb, API group or resource and `*/exec` the exec subresource of any resource; a rule with
resourceNames allows only requests naming one of them, so never `create` (a new object's name
is not part of the request that is authorized). The built-in user-facing ClusterRoles are known
by excerpts of Kubernetes' bootstrap policy. A binding is resolved to the role it names through
an index by (kind, namespace, name) (`RoleIndex`, `resolve`).

Exempt: roles named `system:*` (Kubernetes' own, reconciled by the API server), bindings to
them, and bindings whose subjects are all `system:*` names - except the names that stand for
many principals (system:authenticated, system:unauthenticated, system:anonymous and every
system:serviceaccount... name), since binding those is how a cluster hands cluster-admin to
everyone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.rules.model import UNKNOWN, Finding, Resource, get

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = frozenset({"Role", "ClusterRole"})
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
SYSTEM_PREFIX = "system:"
# `system:` names that stand for many principals: never exempt.
BROAD_SUBJECTS = frozenset({"system:authenticated", "system:unauthenticated", "system:anonymous"})
SERVICE_ACCOUNT_NAMES = "system:serviceaccount"  # ...s, ...s:<ns>, ...:<ns>:<name>
READ_VERBS = ("get", "list", "watch")
# Exec and attach are `create` over SPDY; over WebSocket they are `get`, which before
# Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission) was enough on its own.
EXEC_VERBS = ("create", "get")
EXEC_RESOURCES = ("pods/exec", "pods/attach")
WORKLOAD_RESOURCES = (
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
)
# A bind, escalate or impersonate grant limited by resourceNames is the documented way to
# delegate a few roles or identities; naming one of these still hands out everything.
ESCALATION_TARGETS = frozenset({"cluster-admin", "system:masters"})


def is_rbac(resource: Resource, kinds: frozenset[str]) -> bool:
    return resource.type.startswith(f"kubernetes:{RBAC_GROUP}/") and resource.kind in kinds


def is_system_name(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(SYSTEM_PREFIX)


def _is_exempt_subject(subject: Any) -> bool:
    name = get(subject, "name")
    return is_system_name(name) and name not in BROAD_SUBJECTS and not name.startswith(SERVICE_ACCOUNT_NAMES)


# --------------------------------------------------------------------------------------
# What a role grants
# --------------------------------------------------------------------------------------


def _as_json(values: Sequence[str]) -> str:
    return json.dumps(list(values))


@dataclass(frozen=True)
class Grant:
    """One PolicyRule, and where a message points at it (`rules[0]`, or the built-in role)."""

    where: str
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def allows(self, verb: str, group: str, resource: str) -> bool:
        """The rule matches `verb` on `resource` (`pods` or `pods/exec`) in `group`, for some name."""
        _, _, subresource = resource.partition("/")
        return (
            ("*" in self.verbs or verb in self.verbs)
            and ("*" in self.api_groups or group in self.api_groups)
            and any(
                item == "*" or item == resource or (subresource and item == f"*/{subresource}")
                for item in self.resources
            )
        )

    @property
    def any_name(self) -> bool:
        """True when the rule is not limited to named objects (and so can also allow `create`)."""
        return not self.resource_names

    @property
    def wildcard(self) -> bool:
        """`*` in what the grant reaches (resources or apiGroups): everything, now and later. `*` in
        verbs alone on named resources (the Prometheus operator's own role does it) is judged
        by what those verbs reach: exec, escalation, Secrets, workloads (the other rules)."""
        return bool(self.resources) and "*" in (*self.api_groups, *self.resources)

    def describe(self) -> str:
        text = f"{self.where} grants verbs {_as_json(self.verbs)} on resources {_as_json(self.resources)}"
        if "*" in self.api_groups:
            text += f" in apiGroups {_as_json(self.api_groups)}"
        if self.resource_names:
            text += f" named {_as_json(self.resource_names)}"
        return text


BUILT_IN = "the built-in role"
# Excerpts of Kubernetes' bootstrap policy: the grants of the built-in user-facing ClusterRoles
# that these rules look at, not the whole roles. `view` reads neither Secrets nor exec.
_EDIT = (
    Grant(BUILT_IN, ("create",), ("",), ("pods/attach", "pods/exec")),
    Grant(BUILT_IN, READ_VERBS, ("",), ("secrets",)),
    Grant(BUILT_IN, ("create",), ("",), ("pods", "replicationcontrollers")),
    Grant(BUILT_IN, ("create",), ("apps",), ("daemonsets", "deployments", "replicasets", "statefulsets")),
    Grant(BUILT_IN, ("create",), ("batch",), ("cronjobs", "jobs")),
)
CLUSTER_ADMIN = "cluster-admin"
BUILT_IN_ROLES: dict[str, tuple[Grant, ...]] = {
    CLUSTER_ADMIN: (Grant(BUILT_IN, ("*",), ("*",), ("*",)),),
    "admin": _EDIT,
    "edit": _EDIT,
    "view": (),
}


def _strings(value: Any, path: str, role: Resource) -> tuple[str, ...] | Finding:
    if value is UNKNOWN or (isinstance(value, list) and UNKNOWN in value):
        return Finding(f"{path} is not known during preview; it is checked again on update", True, role)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return Finding(f"{path} must be a list of strings, got {value!r}", resource=role)
    return tuple(value)


def role_grants(role: Resource) -> tuple[list[Grant], list[Finding]]:
    """The role's rules as grants, and what could not be read (unknown, or not the API's shape)."""
    rules = get(role.props, "rules")
    if rules is UNKNOWN:
        return [], [Finding("rules is not known during preview; it is checked again on update", True, role)]
    if rules is not None and not isinstance(rules, list):
        return [], [Finding(f"rules must be a list, got {rules!r}", resource=role)]
    grants: list[Grant] = []
    problems: list[Finding] = []
    for index, rule in enumerate(rules or []):
        where = f"rules[{index}]"
        if rule is UNKNOWN:
            problems.append(Finding(f"{where} is not known during preview; it is checked again on update", True, role))
            continue
        fields = [
            _strings(get(rule, key), f"{where}.{key}", role)
            for key in ("verbs", "apiGroups", "resources", "resourceNames")
        ]
        bad = [field for field in fields if isinstance(field, Finding)]
        if bad:
            problems.extend(bad)
            continue
        verbs, groups, resources, names = (field for field in fields if not isinstance(field, Finding))
        grants.append(Grant(where, verbs, groups, resources, names))
    return grants, problems


# --------------------------------------------------------------------------------------
# Bindings and the roles they name
# --------------------------------------------------------------------------------------

RoleKey = tuple[str, Any, str]  # (kind, namespace or None for a ClusterRole, name)


def _label(kind: str, namespace: Any, name: Any) -> str:
    """`ClusterRole everything`, `Role shop/reader`: how messages name RBAC objects."""
    if kind.startswith("Cluster"):
        return f"{kind} {name}"
    return f"{kind} {'?' if namespace is UNKNOWN else namespace or '-'}/{name}"


@dataclass(frozen=True)
class RoleIndex:
    """The stack's roles by (kind, namespace, name), and the kinds of those whose key is unknown."""

    roles: Mapping[RoleKey, Resource]
    unkeyed: frozenset[str]

    @classmethod
    def of(cls, resources: list[Resource]) -> RoleIndex:
        roles: dict[RoleKey, Resource] = {}
        unkeyed: set[str] = set()
        for role in resources:
            if not is_rbac(role, ROLE_KINDS):
                continue
            namespace = None if role.kind == "ClusterRole" else role.namespace
            if role.object_name is UNKNOWN or namespace is UNKNOWN:
                unkeyed.add(role.kind)
            else:
                roles[(role.kind, namespace, role.object_name)] = role
        return cls(roles, frozenset(unkeyed))


@dataclass(frozen=True)
class Bound:
    """A binding that needs checking, and the role it names: in the stack, built-in, or neither."""

    binding: Resource
    kind: str
    name: str
    namespace: Any
    role: Resource | None
    built_in: tuple[Grant, ...] | None

    @property
    def role_label(self) -> str:
        return _label(self.kind, self.namespace, self.name)

    @property
    def binding_label(self) -> str:
        return _label(self.binding.kind, self.binding.namespace, self.binding.object_name)

    @property
    def subjects(self) -> str:
        subjects = get(self.binding.props, "subjects")
        if not isinstance(subjects, list):
            return "?"
        shown = []
        for subject in subjects:
            kind, name = get(subject, "kind"), get(subject, "name")
            name = "?" if name is UNKNOWN else name
            if kind == "ServiceAccount":
                namespace = get(subject, "namespace") or self.binding.namespace
                shown.append(f"ServiceAccount {'?' if namespace in (UNKNOWN, None) else namespace}/{name}")
            else:
                shown.append(f"{kind} {name}")
        return ", ".join(shown)

    def names(self, grant: Grant) -> str:
        """The message's start: the binding, the role, and the grant that makes it dangerous."""
        return f"{self.binding_label} binds {self.role_label} ({grant.describe()}) to {self.subjects}"


def unknown_about(resource: Resource, what: str) -> Finding:
    return Finding(f"{what} is not known during preview; it is checked again on update", True, resource)


def _needs_check(binding: Resource) -> bool:
    """False when the binding hands its role to nobody, or only to Kubernetes' own identities."""
    subjects = get(binding.props, "subjects")
    if subjects is UNKNOWN or (isinstance(subjects, list) and UNKNOWN in subjects):
        return True
    if not subjects:
        return False  # a binding without subjects grants nothing
    return not (isinstance(subjects, list) and all(_is_exempt_subject(subject) for subject in subjects))


def resolve(binding: Resource, index: RoleIndex) -> Bound | Finding | None:
    """What a binding binds; a Finding when that cannot be told; None when it is exempt."""
    ref = get(binding.props, "roleRef")
    kind, name = get(ref, "kind"), get(ref, "name")
    if UNKNOWN in (ref, kind, name):
        return unknown_about(binding, "roleRef")
    if is_system_name(name) or not _needs_check(binding):
        return None
    if kind not in ROLE_KINDS or not isinstance(name, str):
        return Finding(f"roleRef must name a Role or ClusterRole, got kind {kind!r} name {name!r}", resource=binding)
    if binding.kind == "ClusterRoleBinding" and kind == "Role":
        return Finding(
            f"roleRef names Role {name}, but a ClusterRoleBinding can only bind a ClusterRole", resource=binding
        )
    namespace = None if kind == "ClusterRole" else binding.namespace
    if namespace is UNKNOWN:
        return unknown_about(binding, "metadata.namespace")
    role = index.roles.get((kind, namespace, name))
    built_in = BUILT_IN_ROLES.get(name) if kind == "ClusterRole" and role is None else None
    if role is None and built_in is None and kind in index.unkeyed:
        return unknown_about(binding, f"{_label(kind, namespace, name)} (a role whose name is unknown may be it)")
    return Bound(binding, kind, name, namespace, role, built_in)


def bindings(resources: list[Resource]) -> Iterator[Resource]:
    return (r for r in resources if is_rbac(r, BINDING_KINDS))


def bound_bindings(resources: list[Resource]) -> Iterator[Bound | Finding]:
    """Each binding that needs a check, resolved: what it binds, or the Finding that says why
    that cannot be told (exempt bindings are left out)."""
    index = RoleIndex.of(resources)
    for binding in bindings(resources):
        bound = resolve(binding, index)
        if bound is not None:
            yield bound


def checked_roles(resources: list[Resource]) -> Iterator[Resource]:
    return (r for r in resources if is_rbac(r, ROLE_KINDS) and not is_system_name(r.object_name))


def role_findings(
    resources: list[Resource], grants_it: Callable[[Grant], bool], effect: str, fix: str
) -> Iterator[Finding]:
    """A finding on a role of the set (`system:` ones aside) for each grant `grants_it` picks,
    and one for each part of its rules that cannot be read."""
    for role in checked_roles(resources):
        grants, problems = role_grants(role)
        yield from problems
        for grant in grants:
            if grants_it(grant):
                yield Finding(f"{grant.describe()}: {effect}; {fix}", resource=role)


def bound_grants(bound: Bound) -> tuple[list[Grant], list[Finding]]:
    """The bound role's grants; a role's unreadable parts become findings on the binding."""
    if bound.role is None:
        return list(bound.built_in or ()), []
    grants, problems = role_grants(bound.role)
    moved = [Finding(f"{bound.role_label} {p.message}", p.unknown, bound.binding) for p in problems]
    return grants, moved
