"""The stand-in as one Azora service per process: identity from the environment, /metrics,
failure modes chosen by version, and `python -m azora.standin serve` as a real process."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from azora.standin import Faults, ServiceIdentity, StandIn, parse_faults, run_service, run_standin
from azora.standin.__main__ import main
from azora.standin.faults import CRASH_EXIT_CODE, ErrorSchedule
from azora.standin.server import _url_host

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "AZORA_SERVICE": "payment",
    "AZORA_COLOR": "green",
    "AZORA_VERSION": "2.1.0",
    "AZORA_ENVIRONMENT": "staging",
    "PORT": "0",
}


def _identity(version: str = "2.1.0", **changes: Any) -> ServiceIdentity:
    return ServiceIdentity.from_env({**ENV, "AZORA_VERSION": version, **changes})


def _get(standin: StandIn, path: str) -> requests.Response:
    return requests.get(standin.base_url + path, timeout=5, allow_redirects=False)


def _samples(standin: StandIn, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called `name` in a real scrape of /metrics."""
    scrape = _get(standin, "/metrics")
    assert scrape.status_code == 200
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(scrape.text)
        for sample in family.samples
        if sample.name == name
    ]


def _value(samples: list[tuple[dict[str, str], float]], **labels: str) -> float | None:
    found = [value for sample_labels, value in samples if labels.items() <= sample_labels.items()]
    assert len(found) <= 1, f"{labels} matches {len(found)} samples"
    return found[0] if found else None


@pytest.fixture
def payment() -> Iterator[StandIn]:
    with run_service(_identity(), lifetime=60) as running:
        yield running


# --------------------------------------------------------------------------- identity and health


def test_identity_from_the_pod_environment() -> None:
    identity = ServiceIdentity.from_env({**ENV, "PORT": "9090", "HEALTH_PATH": "/api/health"})
    assert identity == ServiceIdentity("payment", "green", "2.1.0", "staging", 9090, "/api/health")
    assert identity.labels() == {"service": "payment", "color": "green", "version": "2.1.0"}
    bare = ServiceIdentity.from_env({"AZORA_COLOR": "  ", "PORT": ""})
    assert bare == ServiceIdentity("standin", "unknown", "unknown", "unknown", 8080, "/health")
    for bad, name in (({"PORT": "http"}, "PORT"), ({"PORT": "70000"}, "PORT"), ({"HEALTH_PATH": "health"}, "HEALTH")):
        with pytest.raises(ValueError, match=name):
            ServiceIdentity.from_env(bad)
    with pytest.raises(ValueError, match="HEALTH_PATH"):
        ServiceIdentity.from_env({"HEALTH_PATH": "/metrics"})


def test_health_reports_the_environment(payment: StandIn) -> None:
    response = _get(payment, "/health")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "service": "payment",
        "version": "2.1.0",
        "color": "green",
        "environment": "staging",
    }
    assert payment.health_hits("payment") == 1
    assert payment._server.server_address[0] == "127.0.0.1"  # no --listen: the loopback only


def test_health_path_from_the_environment_and_no_all_services_routes() -> None:
    with run_service(_identity(HEALTH_PATH="/api/health", AZORA_SERVICE="web"), lifetime=30) as web:
        assert _get(web, "/api/health").json()["service"] == "web"
        assert _get(web, "/health").status_code == 404
        assert _get(web, "/web/api/health").status_code == 404  # the all-in-one routes are not here
        assert len(_get(web, "/api/courses").json()) == 4  # the pages and APIs are
        assert 'data-testid="nav-courses"' in _get(web, "/").text


def test_switches_still_break_a_service(payment: StandIn) -> None:
    payment.set(unhealthy="all")
    broken = _get(payment, "/health")
    assert broken.status_code == 500 and broken.json()["status"] == "fail" and broken.json()["color"] == "green"
    payment.set(unhealthy=None, flaky={"payment": 1})
    assert [_get(payment, "/health").status_code for _ in range(2)] == [503, 200]


def test_listen_address_in_urls() -> None:
    assert _url_host("0.0.0.0") == "127.0.0.1" and _url_host("::") == "[::1]"
    assert _url_host("10.0.0.7") == "10.0.0.7" and _url_host("fd00::7") == "[fd00::7]"


# --------------------------------------------------------------------------- /metrics


def test_counter_by_route_template_method_and_code(payment: StandIn) -> None:
    for course in ["ux-design"] * 7 + ["web-foundations"] * 3:
        assert _get(payment, f"/courses/{course}").status_code == 200
    assert _get(payment, "/courses/no-such-course").status_code == 404
    assert _get(payment, "/nowhere/at/all").status_code == 404
    _get(payment, "/health")
    samples = _samples(payment, "azora_http_requests_total")
    identity = {"service": "payment", "color": "green", "version": "2.1.0"}
    assert _value(samples, **identity, route="/courses/{id}", method="GET", code="200") == 10
    assert _value(samples, **identity, route="/courses/{id}", method="GET", code="404") == 1
    assert _value(samples, **identity, route="unmatched", method="GET", code="404") == 1
    assert _value(samples, **identity, route="/health", method="GET", code="200") == 1
    assert all(labels.items() >= identity.items() for labels, _ in samples)
    assert not [labels for labels, _ in samples if "ux-design" in labels["route"] or "nowhere" in labels["route"]]
    # The scrape counts itself for the next one.
    assert _value(_samples(payment, "azora_http_requests_total"), route="/metrics", code="200") == 1


def test_latency_histogram_buckets(payment: StandIn) -> None:
    for _ in range(4):
        _get(payment, "/api/courses")
    scrape = _get(payment, "/metrics")
    assert scrape.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    buckets = _samples(payment, "azora_http_request_duration_seconds_bucket")
    les = [labels["le"] for labels, _ in buckets if labels["route"] == "/api/courses"]
    assert les[0] == "0.005" and les[-1] == "+Inf" and len(les) == len(set(les)) >= 10
    assert _value(buckets, route="/api/courses", le="+Inf", service="payment", color="green") == 4
    counts = _samples(payment, "azora_http_request_duration_seconds_count")
    assert _value(counts, route="/api/courses") == 4
    assert 0 < (_value(_samples(payment, "azora_http_request_duration_seconds_sum"), route="/api/courses") or 0) < 4


def test_each_stand_in_has_its_own_registry() -> None:
    with (
        run_service(_identity(AZORA_SERVICE="auth"), lifetime=30) as auth,
        run_service(_identity(AZORA_SERVICE="education"), lifetime=30) as education,
    ):
        for standin, times in ((auth, 3), (education, 5)):
            for _ in range(times):
                _get(standin, "/api/courses")
        assert _value(_samples(auth, "azora_http_requests_total"), route="/api/courses", service="auth") == 3
        assert _value(_samples(education, "azora_http_requests_total"), route="/api/courses") == 5
        assert _value(_samples(education, "azora_http_requests_total"), service="auth") is None


def test_metrics_of_the_all_services_stand_in() -> None:
    with run_standin(lifetime=30) as standin:
        _get(standin, "/auth/health")
        _get(standin, "/auth-preview/health")
        _get(standin, "/courses")
        samples = _samples(standin, "azora_http_requests_total")
    assert _value(samples, service="auth", color="blue", version="1.0.0", route="/auth/health", code="200") == 1
    preview = {"service": "auth", "color": "green", "version": "1.1.0", "route": "/auth-preview/health"}
    assert _value(samples, **preview) == 1
    assert _value(samples, service="standin", route="/courses", method="GET", code="200") == 1


# --------------------------------------------------------------------------- failure modes by version


@pytest.mark.parametrize(
    ("version", "faults"),
    [
        ("2.1.0", Faults()),
        ("2.1.0-never-ready", Faults(never_ready=True)),
        ("v1.2.3-crash-after-30s", Faults(crash_after=30.0)),
        ("2.1.0-crash-after-0.3s", Faults(crash_after=0.3)),
        ("2.1.0-errors-5pct", Faults(error_percent=5)),
        ("2.1.0-rc.1.errors-100pct", Faults(error_percent=100)),
        ("3.0.0-slow-250ms-errors-10pct", Faults(error_percent=10, slow_ms=250)),
        ("3.0.0-never-ready.slow-5ms_build7", Faults(never_ready=True)),  # slow-5ms_build7: not whole
        # Normal releases: no MAJOR.MINOR.PATCH core, no pre-release, or nothing whole and in range.
        ("never-ready", Faults()),
        ("latest", Faults()),
        ("2.1-never-ready", Faults()),
        ("2.1.0-errors-150pct", Faults()),
        ("2.1.0-errors-5", Faults()),
        ("2.1.0-xnever-ready", Faults()),
        ("2.1.0-never-readyx", Faults()),
        ("2.1.0-Never-Ready", Faults()),
        ("2.1.0-crash-after-1.5.2s", Faults()),
        ("2.1.0-slow-10ms-slow-20ms", Faults()),  # a kind given twice
        ("2.1.0-slow-10ms-slow-20ms-errors-1pct", Faults(error_percent=1)),
    ],
)
def test_version_markers(version: str, faults: Faults) -> None:
    assert parse_faults(version) == faults


def test_describe_and_bounds() -> None:
    assert parse_faults("3.0.0-never-ready-crash-after-0.3s-errors-5pct-slow-7ms").describe() == (
        "never-ready, crash-after-0.3s, errors-5pct, slow-7ms"
    )
    assert Faults().describe() == "none"
    with pytest.raises(ValueError):
        Faults(error_percent=101)


def test_error_schedule_is_exact_and_even() -> None:
    def failures(percent: int, requests: int = 100) -> list[int]:
        schedule = ErrorSchedule(percent)
        return [n for n in range(1, requests + 1) if schedule.next_fails()]

    assert failures(5) == [20, 40, 60, 80, 100]
    assert failures(0) == [] and len(failures(100)) == 100
    assert len(failures(33)) == 33 and len(failures(33, 300)) == 99
    with pytest.raises(ValueError):
        ErrorSchedule(101)


def test_never_ready_answers_503_forever() -> None:
    with run_service(_identity("2.1.0-never-ready"), lifetime=30) as bad:
        replies = []
        for _ in range(5):
            replies.append(_get(bad, "/health"))
            time.sleep(0.05)
        assert [r.status_code for r in replies] == [503] * 5
        assert replies[-1].json()["status"] == "fail" and replies[-1].json()["version"] == "2.1.0-never-ready"
        assert _get(bad, "/api/courses").status_code == 200  # only readiness is broken
        assert bad.health_hits("payment") == 5


def test_errors_5pct_fails_exactly_5_of_100() -> None:
    with run_service(_identity("2.1.0-errors-5pct"), lifetime=60) as bad:
        codes = []
        for n in range(100):
            codes.append(_get(bad, "/api/courses").status_code)
            if n % 10 == 0:  # health, /metrics and the controls are not application requests
                assert _get(bad, "/health").status_code == 200
                assert _get(bad, "/metrics").status_code == 200
                assert _get(bad, "/__standin/switches").status_code == 200
        assert [n + 1 for n, code in enumerate(codes) if code == 500] == [20, 40, 60, 80, 100]
        assert codes.count(200) == 95
        samples = _samples(bad, "azora_http_requests_total")
    assert _value(samples, route="/api/courses", code="500", version="2.1.0-errors-5pct") == 5
    assert _value(samples, route="/api/courses", code="200") == 95


def test_slow_adds_latency_to_application_requests() -> None:
    with run_service(_identity("2.1.0-slow-150ms"), lifetime=30) as slow:
        for _ in range(3):
            started = time.perf_counter()
            assert _get(slow, "/api/courses").status_code == 200
            assert time.perf_counter() - started >= 0.15
        started = time.perf_counter()
        assert _get(slow, "/health").status_code == 200
        assert time.perf_counter() - started < 0.15
        total = _value(_samples(slow, "azora_http_request_duration_seconds_sum"), route="/api/courses")
    assert total is not None and total >= 0.45


def test_crash_after_calls_the_hook_then_stops_serving() -> None:
    crashed = threading.Event()
    when: list[float] = []

    def hook() -> None:
        when.append(time.monotonic())
        crashed.set()

    started = time.monotonic()
    with run_service(_identity("2.1.0-crash-after-0.3s"), lifetime=30, on_crash=hook) as doomed:
        assert _get(doomed, "/health").status_code == 200
        assert crashed.wait(timeout=5)
        assert 0.3 <= when[0] - started < 10.0  # not before its time; the upper bound is for a loaded machine
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server stops right after the hook returns
            try:
                _get(doomed, "/health")
            except requests.ConnectionError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("still serving 10 s after the crash")
    assert len(when) == 1


def test_crash_timer_ends_with_the_block() -> None:
    calls: list[float] = []
    with run_service(_identity("2.1.0-crash-after-0.3s"), lifetime=30, on_crash=lambda: calls.append(1)):
        pass
    time.sleep(0.6)
    assert calls == []


# --------------------------------------------------------------------------- `serve`, a real process


def _start_serve(version: str, *args: str, **env: str) -> subprocess.Popen[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("AZORA_") and k not in ("PORT", "HEALTH_PATH")}
    return subprocess.Popen(
        [sys.executable, "-m", "azora.standin", "serve", "--seconds", "30", *args],
        cwd=ROOT,
        env={**keep, **ENV, "AZORA_VERSION": version, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no line from `serve` within {timeout} s")


def _finish(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


def test_serve_answers_health_then_stops_on_sigterm() -> None:
    proc = _start_serve("2.1.0")
    try:
        line = _first_line(proc)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+);", line)
        assert match, line
        assert "payment 2.1.0 (green, staging)" in line and "faults: none" in line
        health = requests.get(f"{match[1]}/health", timeout=5)
        assert health.json() == {
            "status": "ok",
            "service": "payment",
            "version": "2.1.0",
            "color": "green",
            "environment": "staging",
        }
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=2) == 0
        assert time.monotonic() - started < 2
        assert "SIGTERM: stopped" in (proc.communicate(timeout=5)[1])
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{match[1]}/health", timeout=2)
    finally:
        _finish(proc)


def test_serve_crashes_as_its_version_asks() -> None:
    started = time.monotonic()
    proc = _start_serve("2.1.0-crash-after-0.3s")
    try:
        assert proc.wait(timeout=20) == CRASH_EXIT_CODE
        assert time.monotonic() - started >= 0.3
        out, err = proc.communicate(timeout=5)
        assert "faults: crash-after-0.3s" in out and "crashing, as version 2.1.0-crash-after-0.3s asks" in err
    finally:
        _finish(proc)


def test_serve_rejects_a_bad_variable() -> None:
    proc = _start_serve("2.1.0", PORT="http")
    try:
        assert proc.wait(timeout=20) == 2
        assert "PORT must be a port number" in proc.communicate(timeout=5)[1]
    finally:
        _finish(proc)


def test_the_stand_in_runs_without_pydantic() -> None:
    """The service image carries the stand-in, the stdlib and prometheus_client, no more."""
    code = "import sys, azora.standin.__main__; print(sorted(m for m in ('pydantic', 'pulumi') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_demo_is_the_default_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seconds", "0"]) == 0
    assert main(["demo", "--seconds", "0"]) == 0
    urls = capsys.readouterr().out.split()
    assert len(urls) == 2 and all(re.fullmatch(r"http://127\.0\.0\.1:\d+", url) for url in urls)
