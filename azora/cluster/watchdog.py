"""`python -m azora.cluster.watchdog <cluster-dir> <bin-dir> <deadline|none>`: the cluster's
supervisor, started by `azora cluster up`.

Every second it checks each component's process record. When one is gone (a crash, an OOM
kill, a `kill -9`), it runs `up` again, which restarts just that component and waits until it
is healthy, so the cluster recovers without a person. With a deadline (seconds since the
epoch, from `azora cluster up --lifetime`, which tests use) it runs `down` then and exits, so
a cluster a test started never outlives its time limit, even if the test process dies.
`down` stops the supervisor first, so it never fights a `down`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from azora.cluster import processes
from azora.cluster.components import components_for
from azora.cluster.layout import ClusterError, Layout
from azora.cluster.lifecycle import busy, down, up

POLL_SECONDS = 1.0


def _log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def missing(layout: Layout) -> list[str]:
    """Components whose recorded process does not run (a component never started counts too)."""
    gone = []
    for component in components_for(layout.node_kind()):
        record = processes.read(layout.record(component.name))
        if record is None or not processes.is_running(record):
            gone.append(component.name)
    return gone


def main(argv: list[str]) -> int:
    layout, bin_dir = Layout(Path(argv[0])), Path(argv[1])
    deadline = None if argv[2] == "none" else float(argv[2])
    _log(f"supervising {layout.root}" + (f" until {time.ctime(deadline)}" if deadline else ""))
    while True:
        if deadline is not None and time.time() >= deadline:
            stopped = down(layout)
            _log(f"time limit reached; stopped {', '.join(stopped) or 'nothing'}")
            return 0
        time.sleep(POLL_SECONDS)
        if not layout.exists() or busy(layout):
            continue
        gone = missing(layout)
        if gone:
            _log(f"not running: {', '.join(gone)}; restarting")
            try:
                up(layout, bin_dir, _log, timeout=90)
            except ClusterError as exc:
                _log(f"restart failed: {exc}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
