"""The NVIDIA device plugin: a DaemonSet on GPU nodes only that advertises their GPUs as
`nvidia.com/gpu`, from NVIDIA's Helm chart at a pinned version.

Values live in nvidia-device-plugin-values.yaml beside this file; placement (GPU nodes only,
tolerating their taint) comes from components.facts.gpu, so it cannot drift from the node groups'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.facts.gpu import PLACEMENT_KEYS, gpu_node_agent_placement
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.charts import load_values
from components.tokens import renamed, type_token

CHART = NVIDIA_DEVICE_PLUGIN.name
CHART_REPOSITORY = NVIDIA_DEVICE_PLUGIN.repository
CHART_VERSION = NVIDIA_DEVICE_PLUGIN.version
# Node agents with host paths cannot run under the restricted Pod Security Standard of the
# platform's namespaces; kube-system is where EKS runs its own node agents.
NAMESPACE = "kube-system"
VALUES_FILE = Path(__file__).with_name("nvidia-device-plugin-values.yaml")


def chart_values(values_file: Path = VALUES_FILE) -> dict[str, Any]:
    owned = tuple((key,) for key in PLACEMENT_KEYS)
    owner = "placement comes from components/facts/gpu.py"
    return {**load_values(values_file, owned, owner), **gpu_node_agent_placement()}


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    provider: k8s.Provider


class NvidiaDevicePlugin(pulumi.ComponentResource):
    chart_version: str
    namespace: str

    def __init__(
        self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("aws", NvidiaDevicePlugin),
            name,
            None,
            renamed(opts, "gpu:NvidiaDevicePlugin"),
        )
        k8s.helm.v4.Chart(
            name,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            values=chart_values(),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.chart_version = CHART_VERSION
        self.namespace = NAMESPACE
        self.register_outputs({"chartVersion": self.chart_version, "namespace": self.namespace})
