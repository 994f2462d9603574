"""Run the stand-in, by hand (`demo`, the default) or as one Azora service's container (`serve`).

python -m azora.standin [demo] [--stack local] [--unhealthy SERVICE] [--login-broken] ...
    Every Azora service in one process on a free port of 127.0.0.1. Prints the base URL,
    serves until Ctrl-C or `--seconds` have passed. Switches can be changed while it runs:
    `curl -X POST URL/__standin/switches -d '{"unhealthy": ["payment"]}'`.

python -m azora.standin serve [--listen 0.0.0.0] [--seconds N]
    One service, as its pod runs it: AZORA_SERVICE, AZORA_COLOR, AZORA_VERSION and
    AZORA_ENVIRONMENT say who it is, PORT (8080) and HEALTH_PATH (/health) where it answers.
    It listens on 127.0.0.1 unless --listen names an address (a container needs 0.0.0.0).
    Serves the pages and APIs, HEALTH_PATH and /metrics; the version picks failure modes
    (2.1.0-never-ready, -crash-after-<N>s, -errors-<P>pct, -slow-<M>ms: see
    azora/standin/faults.py). The services it talks to (<PEER>_URL, or in a pod the stacks'
    talksTo by Service DNS name) get their `/<service>/...` requests forwarded (web to the API
    gateway, the gateway to each service: azora/standin/upstreams.py). Stops cleanly on
    SIGTERM; exit code 2 for a bad variable.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from azora.standin.identity import ServiceIdentity
from azora.standin.server import LOCALHOST, run_standin
from azora.standin.service import serve as serve_service
from azora.standin.state import ServiceInfo, default_services, services_from_outputs
from azora.standin.upstreams import Upstreams


def _services(stack: str | None) -> dict[str, ServiceInfo]:
    if stack is None:
        return default_services()
    from azora.config.load import load_stack_file
    from azora.smoke import outputs_from_config

    return services_from_outputs(outputs_from_config(load_stack_file(Path(f"Pulumi.{stack}.yaml"))))


def demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azora.standin [demo]",
        description="Every Azora service in one process on 127.0.0.1.",
        epilog="`python -m azora.standin serve --help`: one service per process, as a container runs it.",
    )
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


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azora.standin serve",
        description="One Azora service per process, identity from the environment (see the module docstring).",
    )
    parser.add_argument("--listen", default=LOCALHOST, help="address to listen on (127.0.0.1; 0.0.0.0 in a pod)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until SIGTERM)")
    args = parser.parse_args(argv)
    try:
        identity = ServiceIdentity.from_env()
        upstreams = Upstreams.from_env(identity.service)
    except ValueError as exc:
        print(f"standin: {exc}", file=sys.stderr)
        return 2
    return serve_service(identity, host=args.listen, seconds=args.seconds, upstreams=upstreams)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        return serve(args[1:])
    return demo(args[1:] if args[:1] == ["demo"] else args)


if __name__ == "__main__":
    sys.exit(main())
