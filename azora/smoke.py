"""Smoke checks: GET every service's health endpoint, with retries, and say which are healthy.

The core is pure and engine-free: `run_checks(targets, policy)` takes a list of `Target`
(service, health URL, optionally the version and colour it must report) and returns one
`Result` per target. Everything that knows about stacks is a thin adapter producing targets:

- `targets_from_urls({"auth": "http://.../health"})`: explicit URLs (`--service NAME=URL`);
- `targets_from_outputs(outputs, base_url, preview)`: the stack outputs the program exports
  (`pulumi stack output --json`: `services` = {name: {activeColor, activeService,
  previewService, versions, healthUrl, publicUrl}});
- `outputs_from_config(config)`: the same shape from a stack file (desired state), so that a
  `--base-url` run works before the Pulumi engine is wired in.

Base URL convention: with a base URL, every service is reached at
`<base>/<Service name><healthPath>`, e.g. `http://gw/auth/health`, `http://gw/web/api/health`,
and the preview Services at `http://gw/auth-preview/health`: one gateway that routes a path
prefix per Kubernetes Service (what the stand-in in azora/standin serves, and what a
path-routing ingress or a port-forwarded gateway gives; on the embedded real node, the
ingress's bare address: its web pods pass `/<Service>/...` on to the API gateway, which routes
it to that Service, azora/standin/upstreams.py).

A health response is healthy when it is a 2xx (redirects are not followed: a health URL
that redirects to a login page is broken, not healthy), its JSON `status`, if any, is not a
failure word, and the `version` / `colour` it reports, if any, are the expected ones. Every
failure is retried with exponential backoff, because right after a rollout or a blue/green
switch endpoints can take a few seconds to become ready.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from azora import outputs as contract
from azora.config.model import StackConfig
from azora.errors import BadInput
from azora.junit import Case

# JSON `status` values that mean "unhealthy" in the common health formats (IETF draft
# health-check: pass/fail/warn; Spring Boot: UP/DOWN); a 200 carrying one is still a failure.
FAILING_STATUS_WORDS = frozenset({"fail", "failed", "down", "error", "unhealthy"})
MAX_BACKOFF_SECONDS = 10.0
MAX_PARALLEL = 8


class SmokeInputError(BadInput):
    """Bad input (a malformed URL, outputs file or option): the command exits 2."""


class OutputsUnavailable(BadInput):
    """Raised by an outputs reader when stack outputs cannot be read here (no Pulumi engine)."""


# Reads one stack's outputs as plain data, the JSON of `pulumi stack output --json`.
OutputsReader = Callable[[str, Any], Mapping[str, Any]]  # (stack, azora.context.Context)


@dataclass(frozen=True)
class Target:
    """One health endpoint to check, and what it must report when the caller knows."""

    service: str
    url: str
    expected_version: str | None = None
    expected_colour: str | None = None
    # Why nothing may answer, added to a failure without a response (a preview Service with no
    # pods behind it). Not part of what the target is, so not compared.
    hint: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` extra attempts after the first; waits `backoff`, 2*backoff, 4*backoff..."""

    retries: int = 3
    backoff: float = 0.5
    timeout: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)


@dataclass(frozen=True)
class Reply:
    """What a health endpoint answered."""

    status: int
    body: str
    location: str | None = None


@dataclass(frozen=True)
class Result:
    """The outcome of one target after all its attempts (figures are the last attempt's)."""

    target: Target
    ok: bool
    attempts: int
    status: int | None
    latency_ms: float
    seconds: float
    error: str | None = None
    version: str | None = None
    colour: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.target.service,
            "url": self.target.url,
            "ok": self.ok,
            "status": self.status,
            "latencyMs": round(self.latency_ms, 1),
            "attempts": self.attempts,
            "error": self.error,
            "version": self.version,
            "colour": self.colour,
            "expectedVersion": self.target.expected_version,
            "expectedColour": self.target.expected_colour,
        }


Fetch = Callable[[str, float], Reply]
Sleep = Callable[[float], None]


# --------------------------------------------------------------------------- targets


def check_url(url: str, what: str) -> str:
    """`url` if it is an absolute http(s) URL, else SmokeInputError naming `what`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SmokeInputError(f"{what}: not an http(s) URL: {url!r}")
    return url


def parse_service_option(text: str) -> tuple[str, str]:
    """`NAME=URL` from `--service` -> (name, url)."""
    name, sep, url = text.partition("=")
    if not sep or not name.strip() or not url.strip():
        raise SmokeInputError(f"--service {text!r}: expected NAME=URL, e.g. auth=http://localhost:8081/health")
    return name.strip(), check_url(url.strip(), f"--service {name.strip()}")


def targets_from_urls(urls: Mapping[str, str]) -> list[Target]:
    """Targets for explicit health URLs, with no expectation about version or colour."""
    return [Target(name, check_url(url, name)) for name, url in urls.items()]


def targets_from_outputs(outputs: Mapping[str, Any], base_url: str | None, preview: bool) -> list[Target]:
    """Targets from stack outputs: each service's active (or, with `preview`, idle) colour.

    Without `base_url` the exported in-cluster `healthUrl` is used (for the preview, with the
    host's Service name swapped for the preview Service). With it, see the module docstring.
    Services without a preview Service are left out of a preview run.
    """
    try:
        services = contract.parse_services(outputs)
        for name, info in services.items():
            check_url(info.health_url, f"stack outputs: services.{name}.healthUrl")
    except contract.OutputsError as exc:
        raise SmokeInputError(str(exc)) from None
    if base_url is not None:
        check_url(base_url, "--base-url")
    targets: list[Target] = []
    for name in sorted(services):
        info = services[name]
        service_name = info.preview_service if preview else info.active_service
        if not service_name:
            continue  # one colour only: nothing listens on a preview Service
        colour = info.idle_color if preview else info.active_color
        url = (
            _join(base_url, service_name, info.health_url)
            if base_url
            else _swap_host(info.health_url, name, service_name)
        )
        hint = _preview_hint(name, service_name, colour) if preview else None
        targets.append(Target(name, url, info.versions.get(colour), colour, hint))
    if not targets:
        what = "no service has a preview Service" if preview else "the outputs list no services"
        raise SmokeInputError(f"stack outputs: {what}")
    return targets


def _preview_hint(name: str, service_name: str, colour: str) -> str:
    return (
        f"{service_name} selects the idle colour {colour}: no ready pods until "
        f"`azora deploy --service {name} --version V` scales it up, or with previewReplicas > 0"
    )


def outputs_from_config(config: StackConfig) -> dict[str, Any]:
    """The outputs the program would export for this config (see azora.outputs)."""
    return contract.expected(config)


def load_outputs_file(path: Path) -> dict[str, Any]:
    """The JSON written by `pulumi stack output --json`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SmokeInputError(f"{path}: cannot read outputs file: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SmokeInputError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise SmokeInputError(f"{path}: expected a JSON object of stack outputs")
    return data


def _join(base_url: str, service_name: str, health_url: str) -> str:
    parts = urlsplit(health_url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}/{service_name}{path}{query}"


def _swap_host(health_url: str, name: str, service_name: str) -> str:
    """Point an in-cluster URL (`http://auth.ns.svc...`) at another Service of the namespace."""
    if service_name == name:
        return health_url
    parts = urlsplit(health_url)
    host = parts.hostname or ""
    rest = host.partition(".")[2]
    netloc = f"{service_name}.{rest}" if rest else service_name
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- checking


def http_fetch(url: str, timeout: float) -> Reply:
    """One GET with `requests`; raises requests exceptions on network errors and time-outs."""
    response = requests.get(
        url,
        timeout=timeout,
        allow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "azora-smoke"},
    )
    return Reply(response.status_code, response.text, response.headers.get("Location"))


def run_checks(
    targets: Sequence[Target],
    policy: RetryPolicy,
    fetch: Fetch = http_fetch,
    sleep: Sleep = time.sleep,
) -> list[Result]:
    """Check every target (in parallel, so one slow service does not delay the others)."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(targets))) as pool:
        return list(pool.map(lambda t: check_target(t, policy, fetch, sleep), targets))


def check_target(target: Target, policy: RetryPolicy, fetch: Fetch = http_fetch, sleep: Sleep = time.sleep) -> Result:
    """Try one target up to 1 + retries times, backing off exponentially between attempts."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        status, latency_ms, error, version, colour = _attempt(target, policy.timeout, fetch)
        ok = error is None
        if ok or attempt > policy.retries:
            if error is not None and status is None and target.hint:
                error = f"{error} ({target.hint})"
            return Result(
                target=target,
                ok=ok,
                attempts=attempt,
                status=status,
                latency_ms=latency_ms,
                seconds=time.monotonic() - started,
                error=error,
                version=version,
                colour=colour,
            )
        sleep(policy.delay(attempt))


def _attempt(
    target: Target, timeout: float, fetch: Fetch
) -> tuple[int | None, float, str | None, str | None, str | None]:
    """(status, latency ms, error or None, reported version, reported colour)."""
    began = time.monotonic()
    try:
        reply = fetch(target.url, timeout)
    except requests.Timeout:
        return None, _ms_since(began), f"timed out after {timeout:g}s", None, None
    except requests.RequestException as exc:
        return None, _ms_since(began), describe_network_error(exc), None, None
    latency = _ms_since(began)
    error, version, colour = evaluate(target, reply)
    return reply.status, latency, error, version, colour


def evaluate(target: Target, reply: Reply) -> tuple[str | None, str | None, str | None]:
    """(error or None, reported version, reported colour) for one reply."""
    body = _json_object(reply.body)
    version = _text(body.get("version"))
    colour = _text(body.get("colour", body.get("color")))
    if 300 <= reply.status < 400:
        return f"HTTP {reply.status}, redirected to {reply.location or '?'}", version, colour
    if not 200 <= reply.status < 300:
        return f"HTTP {reply.status}{_excerpt(reply.body)}", version, colour
    status_word = _text(body.get("status"))
    if status_word and status_word.lower() in FAILING_STATUS_WORDS:
        return f"reports status {status_word!r}", version, colour
    if target.expected_version and version and version != target.expected_version:
        return f"version {version}, expected {target.expected_version}", version, colour
    if target.expected_colour and colour and colour != target.expected_colour:
        return f"colour {colour}, expected {target.expected_colour}", version, colour
    return None, version, colour


def describe_network_error(exc: requests.RequestException) -> str:
    """A short reason ("connection refused") instead of urllib3's nested repr."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return f"connection failed: {errno.group(1).strip().lower()}"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"{type(exc).__name__}: {text[:200]}"


def _json_object(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _excerpt(body: str, limit: int = 120) -> str:
    text = " ".join(body.split())
    if not text:
        return ""
    return f": {text[:limit]}{'…' if len(text) > limit else ''}"


def _ms_since(began: float) -> float:
    return (time.monotonic() - began) * 1000


# --------------------------------------------------------------------------- reporting


def summary_line(result: Result) -> str:
    """`status, 12 ms, 1 attempt` plus the error, for humans and JUnit messages alike."""
    status = str(result.status) if result.status is not None else "no response"
    attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
    text = f"{status}, {result.latency_ms:.0f} ms, {attempts}"
    return f"{text}: {result.error}" if result.error else text


def junit_cases(results: Sequence[Result], stack: str) -> list[Case]:
    """One JUnit test case per service; the failure message carries status, latency and error."""
    cases = []
    for result in results:
        properties = {"url": result.target.url, "attempts": str(result.attempts)}
        if result.status is not None:
            properties["status"] = str(result.status)
        for key, value in (("version", result.version), ("colour", result.colour)):
            if value is not None:
                properties[key] = value
        cases.append(
            Case(
                name=result.target.service,
                classname=f"smoke.{stack}",
                seconds=result.seconds,
                failure=None if result.ok else f"{result.target.service} unhealthy: {summary_line(result)}",
                details=f"GET {result.target.url}\n{summary_line(result)}",
                properties=properties,
            )
        )
    return cases


# --------------------------------------------------------------------------- application sample

SAMPLE_REQUESTS = 50


def application_url(health_url: str) -> str:
    """The service's root on the same host: an application request (the health path is not)."""
    return urlunsplit(urlsplit(health_url)._replace(path="/", query=""))


def sample_application(target: Target, count: int = SAMPLE_REQUESTS, timeout: float = 3.0) -> str | None:
    """`count` application requests, each on a new connection (so each is balanced afresh by
    the Service). Returns what failed (5xx or no answer), or None. A health check passes on a
    release whose requests fail; this sees the failures users would."""
    from azora.traffic import fetch  # the same request the live tests' load generator sends

    url = application_url(target.url)
    samples = [fetch(url, timeout) for _ in range(count)]
    bad = [s for s in samples if not s.ok]
    if not bad:
        return None
    kinds = sorted({s.error.split(":")[0] if s.error else f"HTTP {s.status}" for s in bad})
    return f"{target.service}: {len(bad)} of {count} application requests to {url} failed ({', '.join(kinds)})"
