"""The Azora platform program: load the validated stack config, build the platform, export."""

import pulumi

from azora.config.program import load_program_config
from components.platform import AzoraPlatform

config, secrets = load_program_config(pulumi.get_stack())
platform = AzoraPlatform("azora", {"config": config, "secrets": secrets})

pulumi.export("environment", config.environment)
pulumi.export("namespace", platform.namespace)
pulumi.export("services", platform.services)
if platform.grafana_admin_password is not None:
    pulumi.export("grafanaAdminPassword", platform.grafana_admin_password)
