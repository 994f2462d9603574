"""The Azora platform program: load the validated stack config, build the platform, export."""

from pathlib import Path

import pulumi

from azora.config.program import kubeconfig_path, load_program_config
from components.platform import AzoraPlatform

stack = pulumi.get_stack()
config, secrets = load_program_config(stack)
kubeconfig = kubeconfig_path(config, stack, Path(__file__).resolve().parent)
platform = AzoraPlatform("azora", {"config": config, "secrets": secrets, "kubeconfig": kubeconfig})

pulumi.export("environment", config.environment)
pulumi.export("namespace", platform.namespace)
pulumi.export("services", platform.services)
if platform.prometheus_url is not None:
    pulumi.export("prometheusUrl", platform.prometheus_url)
if platform.grafana_admin_password is not None:
    pulumi.export("grafanaAdminPassword", platform.grafana_admin_password)
