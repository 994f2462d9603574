"""Steady HTTP load that records who answered each request: the evidence for "zero downtime".

`Traffic(url, rate)` sends `rate` requests per second, on a fixed schedule, each on a new
TCP connection (so every request is balanced afresh by the Service, as a new user's would be,
and a switch shows on the very next request). Each sample keeps when it was sent, the status
or the network error, the latency, and the release that answered (the stand-in's
`X-Azora-Version` and `X-Azora-Color` headers). `summary()` counts failures and the version
changes in order, so a test can assert one clean cut with no flapping.

Hand-written because the tools that generate load (locust, vegeta, k6) report rates and
latencies, not which backend served each request; this is the 100 lines that do.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Sample:
    sent: float  # time.monotonic() when sent
    status: int | None  # None: no HTTP answer
    error: str | None
    seconds: float
    version: str | None
    color: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 500


@dataclass
class Summary:
    requests: int
    failed: int
    rate: float  # requests per second actually sent
    versions: list[str] = field(default_factory=list)  # the serving version, changes only
    first_failure: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "rate": round(self.rate, 1),
            "versions": self.versions,
            "first_failure": self.first_failure,
        }


def fetch(url: str, timeout: float) -> Sample:
    parts = urlsplit(url)
    began = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return Sample(
            began,
            response.status,
            None,
            time.monotonic() - began,
            response.getheader("X-Azora-Version"),
            response.getheader("X-Azora-Color"),
        )
    except (OSError, http.client.HTTPException) as exc:
        return Sample(began, None, f"{type(exc).__name__}: {exc}", time.monotonic() - began, None, None)
    finally:
        connection.close()


class Traffic:
    """Send GET `url` at `rate` per second from a background thread until `stop()`."""

    def __init__(self, url: str, rate: float = 60.0, timeout: float = 3.0, workers: int = 16):
        self.url, self.rate, self.timeout = url, rate, timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="traffic")
        self._futures: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic-clock", daemon=True)
        self.started = self.stopped = 0.0

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        interval, n = 1.0 / self.rate, 0
        while not self._stop.is_set():
            self._futures.append(self._pool.submit(fetch, self.url, self.timeout))
            n += 1
            delay = self.started + n * interval - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        self.stopped = time.monotonic()
        samples = [future.result() for future in self._futures]
        self._pool.shutdown()
        return sorted(samples, key=lambda s: s.sent)

    def samples(self) -> list[Sample]:
        """What has been answered so far, in the order sent."""
        return sorted((f.result() for f in list(self._futures) if f.done()), key=lambda s: s.sent)


def summarize(samples: list[Sample]) -> Summary:
    versions: list[str] = []
    for sample in samples:
        if sample.version is not None and (not versions or versions[-1] != sample.version):
            versions.append(sample.version)
    failed = [s for s in samples if not s.ok]
    span = (samples[-1].sent - samples[0].sent) if len(samples) > 1 else 0.0
    first = None
    if failed:
        f = failed[0]
        first = f.error or f"HTTP {f.status}"
    return Summary(len(samples), len(failed), (len(samples) - 1) / span if span else 0.0, versions, first)
