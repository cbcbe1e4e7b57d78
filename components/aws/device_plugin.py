"""The NVIDIA device plugin: a DaemonSet on GPU nodes only that advertises their GPUs as
`nvidia.com/gpu`, from NVIDIA's Helm chart at a pinned version (from NVIDIA's repository, or
where the stack's devicePluginChart says: another repository or a directory holding that chart).

Values live in nvidia-device-plugin-values.yaml beside this file; placement (GPU nodes only,
tolerating their taint) comes from components.facts.gpu, so it cannot drift from the node groups'.

It runs in the node agents' namespace (components/facts/namespaces.py), so it is created once the
platform's namespaces exist (components.target.cluster), not inside the AWS cluster component.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.facts.gpu import PLACEMENT_KEYS, gpu_node_agent_placement
from components.facts.namespaces import NODE_AGENTS_NAMESPACE
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.charts import ChartSource, load_values
from components.tokens import moved, type_token

CHART = NVIDIA_DEVICE_PLUGIN.name
CHART_VERSION = NVIDIA_DEVICE_PLUGIN.version
# The plugin registers its socket with the kubelet through a hostPath volume of the node's
# /var/lib/kubelet/device-plugins (and the chart mounts /run/nvidia/mps and /var/run/cdi from the
# host too): the restricted standard of the platform's namespaces refuses hostPath volumes, so it
# runs beside the other node agents, in their privileged namespace (it ran in kube-system until
# issue #20 gave every node agent that namespace and named each of its exemptions).
NAMESPACE = NODE_AGENTS_NAMESPACE
VALUES_FILE = Path(__file__).with_name("nvidia-device-plugin-values.yaml")


def chart_values(values_file: Path = VALUES_FILE) -> dict[str, Any]:
    owned = tuple((key,) for key in PLACEMENT_KEYS)
    owner = "placement comes from components/facts/gpu.py"
    return {**load_values(values_file, owned, owner), **gpu_node_agent_placement()}


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    provider: k8s.Provider
    chart: ChartSource
    """Where the pinned chart comes from: the stack's devicePluginChart, NVIDIA's repository unless
    it names another or a directory holding the chart (components/settings/charts.py)."""
    namespace: str = NAMESPACE
    """Where the DaemonSet runs; the namespace must exist first (pass it in depends_on)."""


# Until it moved to the node agents' namespace, the component was the child
# `aws-nvidia-device-plugin` of the AWS cluster component `aws`, under these (parent, own) types;
# the aliases make the component's move a move in the diff (components/tokens.py). Its Kubernetes
# objects are replaced all the same: an object in another namespace is another object.
FORMER_NAME = "aws-nvidia-device-plugin"
FORMER_PARENT = "aws"
FORMER_TYPES = (
    ("aws:AwsCluster", "aws:NvidiaDevicePlugin"),
    ("cluster:AwsCluster", "gpu:NvidiaDevicePlugin"),
)


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
            moved(opts, FORMER_NAME, FORMER_PARENT, *FORMER_TYPES),
        )
        k8s.helm.v4.Chart(
            name,
            chart=args.chart.chart,
            version=args.chart.version,
            repository_opts=(
                k8s.helm.v4.RepositoryOptsArgs(repo=args.chart.repository)
                if args.chart.repository
                else None
            ),
            namespace=args.namespace,
            values=chart_values(),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.chart_version = CHART_VERSION
        self.namespace = args.namespace
        self.register_outputs({"chartVersion": self.chart_version, "namespace": self.namespace})
