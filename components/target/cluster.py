"""Which cluster a stack gets: `local` an existing cluster or rendered manifests, dev and prod
their own EKS cluster on AWS. Either way the rest of the program sees the same few things.

On EKS, GPU nodes advertise no GPUs until the NVIDIA device plugin runs on them, and it runs in
the node agents' namespace, which the platform's namespaces create after the cluster: the program
adds it with `with_device_plugin` once those exist. The simulated cluster's nodes advertise their
GPUs themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components import outputs
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.charts import ChartSource, chart_source
from components.settings.model import LocalSettings, PlatformSettings
from components.target.local import LocalCluster, LocalClusterArgs, provider_args
from components.target.namespaces import PlatformNamespaces
from components.tokens import type_token

if TYPE_CHECKING:
    import pulumi_docker as docker

# components.aws, and with it pulumi-aws and pulumi-docker, is imported by the functions that
# build on AWS, not here: a local stack never needs them, and each engine run of every local
# stack paid about 0.1 CPU-second to import them (docs/fleet-scale.md, section 8).

DEVICE_PLUGIN = "nvidia-device-plugin"


@dataclass(frozen=True)
class ClusterPath:
    provider: k8s.Provider
    """The stack's one Kubernetes provider: every Kubernetes object goes through it."""
    registries: Mapping[str, str | pulumi.Output[str]]
    """Image repository prefix of each model (ModelServiceArgs.registry)."""
    exports: dict[str, Any]
    """Stack outputs describing the cluster, by their names in components.outputs."""
    registry_credentials: docker.RegistryArgs | None = None
    serving_prerequisites: list[pulumi.Resource] = field(default_factory=list)
    """What model and chart pods need before they can run (nodes, the pull-through cache, and
    after `with_device_plugin` the GPU device plugin)."""
    device_plugin_chart: ChartSource | None = None
    """Where the NVIDIA device plugin's chart comes from, when the GPU nodes advertise
    `nvidia.com/gpu` only once it runs (EKS) and `with_device_plugin` has not added it yet."""


def build_cluster(settings: PlatformSettings, models: Sequence[str]) -> ClusterPath:
    if isinstance(settings, LocalSettings):
        local = LocalCluster("local", LocalClusterArgs.from_settings(settings))
        return ClusterPath(
            provider=local.provider,
            registries={model: settings.image_registry for model in models},
            exports={
                outputs.CLUSTER_MODE: local.mode,
                outputs.RENDER_DIRECTORY: local.render_directory,
            },
        )
    from components.aws.cluster import AwsCluster, AwsClusterArgs

    cluster = AwsCluster("aws", AwsClusterArgs.from_settings(settings, models, pulumi.get_stack()))
    return ClusterPath(
        provider=cluster.provider,
        registries=cluster.registry.prefixes,
        exports={
            outputs.CLUSTER_MODE: cluster.mode,
            outputs.CLUSTER_NAME: cluster.cluster_name,
            outputs.REPOSITORIES: cluster.registry.repository_urls,
            outputs.GPU_NODE_GROUPS: cluster.node_groups.gpu_types,
            # What a models stack's provider is configured from (models_stack_cluster).
            outputs.KUBECONFIG: pulumi.Output.secret(cluster.eks.kubeconfig),
        },
        registry_credentials=cluster.registry_credentials,
        serving_prerequisites=cluster.serving_prerequisites,
        device_plugin_chart=chart_source(settings.device_plugin_chart, NVIDIA_DEVICE_PLUGIN),
    )


def with_device_plugin(cluster: ClusterPath, namespaces: PlatformNamespaces) -> ClusterPath:
    """The cluster with, where its nodes need it, the NVIDIA device plugin: created in the node
    agents' namespace once the namespaces exist, and among the serving prerequisites, so model
    and chart pods wait for GPUs to be advertised."""
    if cluster.device_plugin_chart is None:
        return cluster
    from components.aws.device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs

    plugin = NvidiaDevicePlugin(
        DEVICE_PLUGIN,
        NvidiaDevicePluginArgs(provider=cluster.provider, chart=cluster.device_plugin_chart),
        opts=pulumi.ResourceOptions(depends_on=[namespaces]),
    )
    return replace(
        cluster,
        serving_prerequisites=[*cluster.serving_prerequisites, plugin],
        device_plugin_chart=None,
    )


# Where the platform stack's Kubernetes provider sits (its parents' types and names, outermost
# first). A models stack declares its own provider at its top level with this as an alias: after
# `pulumi state move`, the provider copied along with the moved models keeps this URN, and the
# alias makes the engine take it as the same provider instead of planning every object's
# replacement (docs/fleet-scale.md, section 5).
ProviderParents = tuple[tuple[str, str], ...]
LOCAL_PROVIDER_PARENTS: ProviderParents = ((type_token("target", LocalCluster), "local"),)


def aws_provider_parents() -> ProviderParents:
    from components.aws.cluster import AwsCluster
    from components.aws.eks import EksCluster

    return ((type_token("aws", AwsCluster), "aws"), (type_token("aws", EksCluster), "aws-eks"))


def _former_parent(parents: ProviderParents) -> pulumi.Output[str]:
    urn: pulumi.Output[str] | None = None
    for type_, name in parents:
        urn = pulumi.create_urn(name, type_, parent=urn)
    assert urn is not None
    return urn


def _provider_name(parents: ProviderParents) -> str:
    return f"{parents[-1][1]}-kubernetes"


def models_stack_cluster(
    settings: PlatformSettings,
    platform_stack: str,
    platform: pulumi.StackReference,
    models: Sequence[str],
) -> ClusterPath:
    """The cluster as a models stack of the platform stack `platform_stack` (read through
    `platform`, applied first) sees it: a Kubernetes provider of its own with the platform's
    provider's name and inputs, and on AWS the platform's ECR registry."""
    registries: Mapping[str, str | pulumi.Output[str]]
    credentials = None
    if isinstance(settings, LocalSettings):
        parents = LOCAL_PROVIDER_PARENTS
        args = provider_args(LocalClusterArgs.from_settings(settings))
        registries = {model: settings.image_registry for model in models}
    else:
        from components.aws.cluster import (
            AwsClusterArgs,
            aws_provider,
            ecr_push_credentials,
            ecr_registry_prefix,
        )

        parents = aws_provider_parents()
        # The EKS kubeconfig names no secret (it runs `aws eks get-token`); it is exported as one
        # all the same, and read as one.
        args = k8s.ProviderArgs(kubeconfig=platform.require_output(outputs.KUBECONFIG))
        aws_args = AwsClusterArgs.from_settings(settings, models, platform_stack)
        registries = {model: ecr_registry_prefix(aws_args) for model in models}
        if settings.build_images:
            credentials = ecr_push_credentials(
                aws_args, aws_provider("registry-aws", aws_args, pulumi.ResourceOptions())
            )
    provider = k8s.Provider(
        _provider_name(parents),
        args,
        opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=_former_parent(parents))]),
    )
    return ClusterPath(
        provider=provider,
        registries=registries,
        exports={},
        registry_credentials=credentials,
    )
