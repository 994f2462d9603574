"""Which images a stack names and what builds each: every service's `image:version`, for each
colour, is the stand-in under that name; the embedded Prometheus (`monitoring.prometheus.mode:
embedded`) is the Prometheus image, which can only be the one azora builds (PROMETHEUS_IMAGE,
from the toolchain's Prometheus).

A reference is checked against the distribution reference grammar (what containerd and the
kubelet parse), and against what the stand-in can serve, before anything is built or imported;
every problem is reported with its key path in the stack file. A service cannot take the name
of an image azora builds for another purpose (pause, Prometheus): the stand-in would replace it.
References are returned fully qualified, as the CRI plugin looks them up: `nginx:1` is
`docker.io/library/nginx:1`.

Chart workloads (data stores, monitoring in chart mode, `releases`) take their images from their
charts and are not covered: kube-prometheus-stack pulls its own Prometheus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azora.images.build import PAUSE_IMAGE, PROMETHEUS_IMAGE
from azora.images.errors import ImageRefError
from azora.standin.identity import ServiceIdentity

if TYPE_CHECKING:
    from azora.config.model import StackConfig

STANDIN = "standin"
PROMETHEUS = "prometheus"
PROMETHEUS_KEY = "azora:monitoring.prometheus.image"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*(?::[0-9]+)?")
PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_MAX = 255  # the longest repository name the distribution grammar allows
DEFAULT_DOMAIN = "docker.io"


@dataclass(frozen=True)
class ImageSource:
    """What builds one reference, and where the stack names it."""

    builder: str  # STANDIN or PROMETHEUS
    key_paths: tuple[str, ...]  # azora:services.<svc>.versions.<colour>, for each that names it


def split_domain(repository: str) -> tuple[str, str]:
    """(registry host, path), the host as the reference grammar decides: the first component
    when it has a '.' or ':' or is 'localhost', else docker.io."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return DEFAULT_DOMAIN, repository


def repository_problem(repository: str) -> str | None:
    """Why `repository` (no tag) is not a valid image repository, or None."""
    domain, path = split_domain(repository)
    if not DOMAIN.fullmatch(domain):
        return f"{domain!r} is not a registry host[:port]"
    if not PATH.fullmatch(path):
        return "path components must be lower-case letters and digits, separated by '.', '_', '__' or '-'"
    if len(qualified_name(repository)) > NAME_MAX:
        return f"the name is longer than {NAME_MAX} characters"
    return None


def tag_problem(tag: str) -> str | None:
    if not TAG.fullmatch(tag):
        return "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
    return None


def qualified_name(repository: str) -> str:
    """The repository as containerd's CRI plugin names it (docker.io/library/ for short names)."""
    domain, path = split_domain(repository)
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return f"{domain}/{path}"


def qualified(repository: str, tag: str) -> str:
    return f"{qualified_name(repository)}:{tag}"


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag) of `name[:tag]`; the tag is "latest" when absent, as the CRI reads it.
    A ':' before the last '/' is a registry port, not a tag."""
    repository, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return reference, "latest"
    return repository, tag


BUILT_ELSEWHERE = {
    qualified(*split_reference(PAUSE_IMAGE)): "the pause image",
    qualified(*split_reference(PROMETHEUS_IMAGE)): "the embedded Prometheus's image",
}


def embedded_prometheus_image(config: StackConfig) -> str | None:
    """The image the stack's embedded Prometheus runs, or None when it runs none: monitoring or
    Prometheus off, or chart mode (read with defaults: a model without `mode` is chart mode)."""
    monitoring = getattr(config, "monitoring", None)
    prometheus = getattr(monitoring, "prometheus", None)
    if not (getattr(monitoring, "enabled", False) and getattr(prometheus, "enabled", False)):
        return None
    if getattr(prometheus, "mode", "chart") != "embedded":
        return None
    return str(getattr(prometheus, "image", PROMETHEUS_IMAGE))


def prometheus_problem(image: str) -> str | None:
    """Why the embedded Prometheus cannot run `image` (None if it can: it is PROMETHEUS_IMAGE)."""
    if "@" not in image and qualified(*split_reference(image)) == qualified(*split_reference(PROMETHEUS_IMAGE)):
        return None
    return (
        f"{PROMETHEUS_KEY}: {image!r}: the embedded mode can only build {PROMETHEUS_IMAGE} (from the "
        "toolchain's Prometheus); leave the key out or set it to that"
    )


def images_for(config: StackConfig) -> dict[str, ImageSource]:
    """Every image reference the stack's services and embedded Prometheus name -> what builds it,
    sorted by reference. ImageRefError lists every invalid or unservable one with its key path."""
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    for name, service in sorted(config.services.items()):
        key = f"azora:services.{name}"
        bad_repository = repository_problem(service.image)
        if bad_repository:
            problems.append(f"{key}.image: {service.image!r} is not a valid image repository: {bad_repository}")
        for color, version in sorted(service.versions.items()):
            bad_tag = tag_problem(version)
            if bad_tag:
                problems.append(f"{key}.versions.{color}: {service.image}:{version} has an invalid tag: {bad_tag}")
            elif not bad_repository:
                ref = qualified(service.image, version)
                if ref in BUILT_ELSEWHERE:
                    problems.append(
                        f"{key}.versions.{color}: {ref} is {BUILT_ELSEWHERE[ref]}, which azora builds: "
                        "a service's image cannot take its name"
                    )
                else:
                    found.setdefault(ref, []).append(f"{key}.versions.{color}")
        try:  # the image is the stand-in: it must accept what the Deployment will give it
            ServiceIdentity(service=name, port=service.port, health_path=service.health_path)
        except ValueError as exc:
            problems.append(f"{key}.healthPath: the stand-in ({service.image}) cannot serve it: {exc}")
    prometheus = embedded_prometheus_image(config)
    bad_prometheus = prometheus_problem(prometheus) if prometheus is not None else None
    if bad_prometheus:
        problems.append(bad_prometheus)
    if problems:
        head = problems[0] if len(problems) == 1 else f"{len(problems)} images in the stack cannot be built"
        raise ImageRefError(head, details=problems if len(problems) > 1 else [])
    plan = {ref: ImageSource(STANDIN, tuple(paths)) for ref, paths in found.items()}
    if prometheus is not None:
        plan[qualified(*split_reference(prometheus))] = ImageSource(PROMETHEUS, (PROMETHEUS_KEY,))
    return dict(sorted(plan.items()))
