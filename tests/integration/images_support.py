"""What the image tests share: a free local port, an HTTP GET retried until the server answers,
the uids of a process, the count of its Kubernetes discovery's failed API calls that Prometheus
reports, and stopping a process as the kubelet stops a container."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str, deadline: float) -> tuple[int, str]:
    """(status, body) of `url`, asked again until it answers or `deadline` (monotonic) passes."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def status_ids(pid: int | str) -> list[str]:
    """The real, effective, saved and filesystem uids of a process."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(line for line in status if line.startswith("Uid:")).split()[1:]


def kubernetes_sd_errors(metrics: str) -> float:
    """How many of Prometheus's Kubernetes discovery requests to the API server failed."""
    found = re.findall(r'^prometheus_sd_kubernetes_http_request_total\{status_code="<error>"\} (\S+)$', metrics, re.M)
    return sum(float(value) for value in found)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the kubelet stops a container; SIGKILL if it has not exited 20 s later."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
