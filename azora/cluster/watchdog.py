"""`python -m azora.cluster.watchdog <cluster-dir> <seconds>`: stop that cluster after a time
limit (started by `azora cluster up --lifetime`, which tests use)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from azora.cluster.layout import Layout
from azora.cluster.lifecycle import down


def main(argv: list[str]) -> int:
    root, seconds = Path(argv[0]), float(argv[1])
    time.sleep(seconds)
    stopped = down(Layout(root))
    print(f"time limit of {seconds:.0f}s reached; stopped {', '.join(stopped) or 'nothing'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
