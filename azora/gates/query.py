"""PromQL templates and a Prometheus client for instant queries, read the fail-closed way.

Templates: `{{service}}`, `{{color}}`, `{{version}}` and `{{namespace}}` (spaces inside the
braces allowed) are replaced by their values, escaped for a PromQL double-quoted string, so
write them inside quotes: `{service="{{service}}"}`. They are escaped as strings, not as
regular expressions: use `=` / `!=` matchers with them, not `=~`. Any other `{{name}}` is a
`GateConfigError` naming it, before any query runs.

`PrometheusClient(base_url, timeout).query(promql)` GETs `<base_url>/api/v1/query` (the
server's current time) and turns the JSON envelope into a `QueryResult`, which is never an
exception at query time:

- one number: a vector with exactly one sample, or a scalar. Values come as strings; "NaN",
  "+Inf" and "-Inf" become the floats they name (the analysis decides what they mean);
- empty: a vector with no sample (`value` None, no error). Never a pass (analysis.py);
- error: `status: error` (Prometheus's errorType and error text, e.g. `bad_data: 1:5: parse
  error: ...`), no connection, a timeout, an HTTP error or a body that is not Prometheus's JSON
  (the message names the URL), or a shape the gate cannot read: more than one series
  ("3 series; the query must return one"), a range vector (matrix), a string, a native
  histogram sample.

`PrometheusClient.check(promql)` is the pre-flight check run before anything switches.
Prometheus has no parse-only endpoint in every version (`/api/v1/parse_query` is recent and
experimental), so the check runs the query itself at the current time: `bad_data` (the query
does not parse, or a parameter is wrong) and an unreadable shape (a matrix, a string, several
series) are `GateConfigError`s carrying Prometheus's message; any other failure (unreachable,
timeout, execution error) is `PrometheusUnavailable`. An empty result passes the check: the
colour under test may have no traffic yet.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from azora.gates.errors import GateConfigError, PrometheusUnavailable

PLACEHOLDERS = ("service", "color", "version", "namespace")
QUERY_PATH = "/api/v1/query"
MAX_ERROR = 300  # characters of an error text kept in a QueryResult

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
CONFIG_ERROR_TYPES = ("bad_data", "shape")  # what `check` turns into GateConfigError


def promql_string(value: str) -> str:
    """`value` escaped to sit between double quotes in PromQL (Go string escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def render_query(template: str, values: Mapping[str, str], key: str = "query") -> str:
    """The template with each `{{placeholder}}` replaced by its escaped value."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            known = ", ".join("{{" + known + "}}" for known in PLACEHOLDERS)
            raise GateConfigError(f"{key}: unknown placeholder {match.group()} (known: {known})")
        if name not in values:
            raise GateConfigError(f"{key}: no value for {match.group()} here")
        return promql_string(str(values[name]))

    if not isinstance(template, str) or not template.strip():
        raise GateConfigError(f"{key} is empty: write a PromQL query")
    rendered = _PLACEHOLDER.sub(substitute, template)
    # Rendered values never contain "{{": their braces are not touched, only quotes/backslashes.
    leftover = _PLACEHOLDER.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise GateConfigError(f"{key}: a `{{{{` or `}}}}` that is not a placeholder such as {{{{service}}}}")
    return rendered


@dataclass(frozen=True)
class QueryResult:
    """One instant query's answer: a number (maybe NaN or ±Inf), empty, or an error."""

    value: float | None = None
    error: str | None = None
    error_type: str | None = None  # Prometheus's errorType, or unreachable | http | response | shape

    @property
    def empty(self) -> bool:
        return self.value is None and self.error is None

    @classmethod
    def failed(cls, error_type: str, message: str) -> QueryResult:
        text = message if len(message) <= MAX_ERROR else message[: MAX_ERROR - 1] + "…"
        return cls(error=text, error_type=error_type)


class QueryClient(Protocol):
    """What the analysis needs: a PrometheusClient, or a recording in tests."""

    def query(self, promql: str) -> QueryResult: ...


class QueryChecker(Protocol):
    """What the pre-flight check needs (PrometheusClient.check)."""

    def check(self, promql: str, key: str = "query") -> QueryResult: ...


class PrometheusClient:
    """Instant queries against one Prometheus (or anything with its HTTP API)."""

    def __init__(self, base_url: str, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise GateConfigError(f"Prometheus URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    @property
    def url(self) -> str:
        """The query endpoint as messages show it (without any user:password@)."""
        parts = urlsplit(self.base_url + QUERY_PATH)
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def query(self, promql: str) -> QueryResult:
        try:
            reply = self.session.get(self.base_url + QUERY_PATH, params={"query": promql}, timeout=self.timeout)
        except requests.Timeout:
            return QueryResult.failed("unreachable", f"{self.url}: no answer within {self.timeout:g}s")
        except requests.RequestException as exc:
            return QueryResult.failed("unreachable", f"{self.url}: {_reason(exc)}")
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            what = f"HTTP {reply.status_code} {reply.reason}" if reply.status_code >= 300 else "not Prometheus's JSON"
            return QueryResult.failed("http" if reply.status_code >= 300 else "response", f"{self.url}: {what}")
        if body["status"] == "error":
            error_type = str(body.get("errorType") or "error")
            where = f" (HTTP {reply.status_code} from {self.url})" if reply.status_code >= 500 else ""
            return QueryResult.failed(error_type, f"{error_type}: {body.get('error') or 'no message'}{where}")
        if reply.status_code >= 300:
            return QueryResult.failed("http", f"{self.url}: HTTP {reply.status_code} {reply.reason}")
        return read_data(body.get("data"), self.url)

    def check(self, promql: str, key: str = "query") -> QueryResult:
        """Run `promql` once before the gate: a config error or an unreachable Prometheus raises."""
        result = self.query(promql)
        if result.error is None:
            return result
        if result.error_type in CONFIG_ERROR_TYPES:
            raise GateConfigError(f"{key}: Prometheus cannot use the query: {result.error}", details=[promql])
        raise PrometheusUnavailable(f"{key}: the query could not be run: {result.error}", details=[promql])


def read_data(data: Any, url: str = "Prometheus") -> QueryResult:
    """A success envelope's `data`: {"resultType": ..., "result": ...} → one number, empty, or error."""
    if not isinstance(data, dict):
        return QueryResult.failed("response", f"{url}: the answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _number(result, url)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return QueryResult()
        if len(result) > 1:
            return QueryResult.failed("shape", f"{len(result)} series; the query must return one (aggregate it)")
        sample = result[0] if isinstance(result[0], dict) else {}
        if "value" not in sample and "histogram" in sample:
            return QueryResult.failed("shape", "a native histogram sample; the query must return a number")
        return _number(sample.get("value"), url)
    if kind in ("matrix", "string"):
        return QueryResult.failed("shape", f"a {kind} result; the query must return one number (an instant query)")
    return QueryResult.failed("response", f"{url}: unknown result type {kind!r}")


def _number(pair: Any, url: str) -> QueryResult:
    """A [timestamp, "value"] pair: the value is a string, possibly "NaN", "+Inf" or "-Inf"."""
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        return QueryResult.failed("response", f'{url}: a sample that is not [time, "value"]: {pair!r}')
    try:
        value = float(pair[1])
    except ValueError:
        return QueryResult.failed("response", f"{url}: a sample value that is not a number: {pair[1]!r}")
    return QueryResult(value=math.nan if math.isnan(value) else value)


def _reason(exc: requests.RequestException) -> str:
    """A short cause: 'connection refused' rather than urllib3's nested repr."""
    text = str(exc)
    for marker, short in (("Connection refused", "connection refused"), ("Name or service not known", "unknown host")):
        if marker in text:
            return short
    return f"{type(exc).__name__}: {text}"
