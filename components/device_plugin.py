"""The NVIDIA device plugin: a DaemonSet on GPU nodes only that advertises their GPUs as
`nvidia.com/gpu`, from NVIDIA's Helm chart at a pinned version.

Values live in nvidia-device-plugin-values.yaml beside this file; placement (GPU nodes only,
tolerating their taint) comes from components.gpu, so it cannot drift from the node groups'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.gpu import any_gpu_node_affinity, gpu_toleration

CHART = "nvidia-device-plugin"
CHART_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
CHART_VERSION = "0.18.2"
# Node agents with host paths cannot run under the restricted Pod Security Standard of the
# platform's namespaces; kube-system is where EKS runs its own node agents.
NAMESPACE = "kube-system"
VALUES_FILE = Path(__file__).with_name("nvidia-device-plugin-values.yaml")
PLACEMENT_KEYS = ("affinity", "nodeSelector", "tolerations")


def placement_values() -> dict[str, Any]:
    """GPU nodes only, whatever their GPU type, tolerating the GPU taint. Replaces the chart's
    default affinity, which asks for Node Feature Discovery labels our nodes do not carry."""
    return {"affinity": any_gpu_node_affinity(), "tolerations": [gpu_toleration()]}


def chart_values(values_file: Path = VALUES_FILE) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(values_file.read_text()) or {}
    clashes = sorted(set(values) & set(PLACEMENT_KEYS))
    if clashes:
        raise ValueError(
            f"{values_file.name} sets {', '.join(clashes)}: placement comes from components/gpu.py"
        )
    return {**values, **placement_values()}


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    provider: k8s.Provider


class NvidiaDevicePlugin(pulumi.ComponentResource):
    chart_version: str
    namespace: str

    def __init__(
        self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpu-model-platform:gpu:NvidiaDevicePlugin", name, None, opts)
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
