"""A local stand-in for the Azora apps (the real apps are not in this repository): pages, APIs
and health endpoints for the smoke and browser suites, and the image of every Azora service on
the embedded cluster, one service per process.

Modules: `server.py` (HTTP, the two ways to run it), `routes.py` (pages and APIs), `pages.py`
(the HTML and its data-testid contract), `state.py` (data, rules, switches), `identity.py`
(one service's identity from its pod's environment), `faults.py` (failure modes chosen by
version), `upstreams.py` (the services one service talks to: web passes `/<service>/...` to the
API gateway, the gateway to that Service), `metrics.py` (/metrics), `service.py` and
`__main__.py` (the processes).

    with run_standin(unhealthy={"payment"}) as standin:       # every service, one process
        ...standin.base_url...
        standin.set(unhealthy=set(), login_broken=True)

    identity = ServiceIdentity(service="payment", color="green", version="2.1.0-errors-5pct", port=0)
    with run_service(identity) as payment:                    # one service, as its pod runs it
        ...payment.base_url + "/health"...
"""

from azora.standin.faults import Faults, parse_faults
from azora.standin.identity import ServiceIdentity
from azora.standin.server import StandIn, run_service, run_standin
from azora.standin.state import (
    AZORA_SERVICES,
    CARD_DECLINED,
    CARD_OK,
    ServiceInfo,
    Switches,
    default_services,
    services_from_outputs,
)

__all__ = [
    "AZORA_SERVICES",
    "CARD_DECLINED",
    "CARD_OK",
    "Faults",
    "ServiceIdentity",
    "ServiceInfo",
    "StandIn",
    "Switches",
    "default_services",
    "parse_faults",
    "run_service",
    "run_standin",
    "services_from_outputs",
]
