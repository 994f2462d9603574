"""Size a namespace's ResourceQuota from the services it holds.

The worst case the quota must admit is a deploy in flight: both colours at full size (or at the
autoscaler's maximum), plus a rolling update's surge pod each, plus in-cluster data stores.
A quarter on top leaves room for Jobs and debugging pods. Stack config may override any cap.
"""

from __future__ import annotations

from decimal import Decimal

from azora.config.model import StackConfig
from azora.quantity import format_cpu, format_memory, parse_quantity
from components.namespace import QuotaArgs

HEADROOM = Decimal("1.25")
# What one in-cluster data store (PostgreSQL or Redis primary) is allowed, as requests/limits.
DATA_STORE_REQUESTS = {"cpu": Decimal("0.25"), "memory": Decimal(512 * 2**20)}
DATA_STORE_LIMITS = {"cpu": Decimal("1"), "memory": Decimal(1024 * 2**20)}


def quota_for(config: StackConfig) -> QuotaArgs:
    totals = {key: Decimal(0) for key in ("requests_cpu", "requests_memory", "limits_cpu", "limits_memory")}
    pods = 0
    for service in config.services.values():
        per_colour = max(service.replicas, service.autoscaling.max_replicas if service.autoscaling else 0)
        count = 2 * (per_colour + 1)
        pods += count
        totals["requests_cpu"] += count * service.resources.requests.cpu_cores()
        totals["requests_memory"] += count * service.resources.requests.memory_bytes()
        totals["limits_cpu"] += count * service.resources.limits.cpu_cores()
        totals["limits_memory"] += count * service.resources.limits.memory_bytes()
    for store in (config.postgresql, config.redis):
        if store.mode == "in-cluster":
            pods += 2
            totals["requests_cpu"] += DATA_STORE_REQUESTS["cpu"]
            totals["requests_memory"] += DATA_STORE_REQUESTS["memory"]
            totals["limits_cpu"] += DATA_STORE_LIMITS["cpu"]
            totals["limits_memory"] += DATA_STORE_LIMITS["memory"]
    override = config.quota
    limits_cpu = parse_quantity(override.cpu) if override.cpu else totals["limits_cpu"] * HEADROOM
    limits_memory = parse_quantity(override.memory) if override.memory else totals["limits_memory"] * HEADROOM
    return QuotaArgs(
        requests_cpu=format_cpu(min(totals["requests_cpu"] * HEADROOM, limits_cpu)),
        requests_memory=format_memory(min(totals["requests_memory"] * HEADROOM, limits_memory)),
        limits_cpu=format_cpu(limits_cpu),
        limits_memory=format_memory(limits_memory),
        pods=override.pods or int((pods * HEADROOM).to_integral_value(rounding="ROUND_CEILING")),
    )
