"""A local stand-in for the Azora web app and its services' health endpoints (the real apps are
not in this repository), for the smoke and browser suites. See `server.py` for the routes and
`pages.py` for the data-testid contract.

    with run_standin(unhealthy={"payment"}) as standin:
        ...standin.base_url...
        standin.set(unhealthy=set(), login_broken=True)
"""

from azora.standin.server import StandIn, run_standin
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
    "ServiceInfo",
    "StandIn",
    "Switches",
    "default_services",
    "run_standin",
    "services_from_outputs",
]
