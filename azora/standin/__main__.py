"""Run the stand-in by hand: `python -m azora.standin [--stack local] [--login-broken] ...`.

Prints the base URL, serves until Ctrl-C or `--seconds` have passed. Switches can be changed
while it runs: `curl -X POST URL/__standin/switches -d '{"unhealthy": ["payment"]}'`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from azora.standin.server import run_standin
from azora.standin.state import ServiceInfo, default_services, services_from_outputs


def _services(stack: str | None) -> dict[str, ServiceInfo]:
    if stack is None:
        return default_services()
    from azora.config.load import load_stack_file
    from azora.smoke import outputs_from_config

    return services_from_outputs(outputs_from_config(load_stack_file(Path(f"Pulumi.{stack}.yaml"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m azora.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="report the versions and colours of Pulumi.<stack>.yaml")
    parser.add_argument("--unhealthy", action="append", default=[], help="service whose health returns 500, or 'all'")
    parser.add_argument("--login-broken", action="store_true")
    parser.add_argument("--payment-declined", action="store_true")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long (default 600)")
    args = parser.parse_args(argv)
    switches = {
        "unhealthy": set(args.unhealthy),
        "login_broken": args.login_broken,
        "payment_declined": args.payment_declined,
    }
    with run_standin(_services(args.stack), lifetime=args.seconds + 5, **switches) as standin:
        print(standin.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop it
            time.sleep(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
