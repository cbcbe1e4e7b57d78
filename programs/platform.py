"""The platform stack of an environment: the cluster, registry, namespaces, admission, monitoring
and autoscaling, and every model not assigned to a models stack (stacks/<stack>.yaml)."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import outputs
from components.autoscaling.component import KedaAutoscaling, KedaAutoscalingArgs
from components.catalog.load import load_catalog
from components.fleet.stacks import StackRole, load_fleet_stacks
from components.monitoring.component import MonitoringStack, MonitoringStackArgs
from components.serving.admission_component import GatedImageAdmission, GatedImageAdmissionArgs
from components.serving.component import ModelService, ModelServiceArgs
from components.settings.load import load_settings
from components.target.cluster import build_cluster, with_device_plugin
from components.target.namespaces import PlatformNamespaces, PlatformNamespacesArgs


def run(project: Path, role: StackRole) -> None:
    # Everything is validated before the first resource: bad input stops here and changes nothing.
    settings = load_settings()
    catalog = load_catalog(project / "models", settings.max_gpus_per_pod, settings.node_gpu_types)
    names = [entry.spec.name for entry in catalog]
    held = set(load_fleet_stacks(project, role.platform, names).held_by(role, names))
    here = [entry for entry in catalog if entry.spec.name in held]

    # local: an existing cluster or rendered manifests; dev and prod: EKS, GPU nodes and ECR on
    # AWS. The registry has a repository for every model, wherever it is deployed from.
    cluster = build_cluster(settings, names)
    namespaces = PlatformNamespaces(
        "namespaces", PlatformNamespacesArgs.from_settings(settings, cluster.provider)
    )
    # EKS: the NVIDIA device plugin, a node agent, advertises the GPUs from the node agents'
    # namespace.
    cluster = with_device_plugin(cluster, namespaces)
    # The models namespace admits only gated images of every model, in any stack; the allow-list
    # changes before any rollout (the platform stack is applied first).
    admission = GatedImageAdmission(
        "gated-images",
        GatedImageAdmissionArgs.from_catalog(settings, catalog, cluster),
        opts=pulumi.ResourceOptions(depends_on=[namespaces]),
    )
    services = {
        entry.spec.name: ModelService(
            entry.spec.name,
            ModelServiceArgs.from_settings(settings, entry, cluster),
            opts=pulumi.ResourceOptions(
                depends_on=[namespaces, admission, *cluster.serving_prerequisites]
            ),
        )
        for entry in here
    }
    monitoring = MonitoringStack(
        "monitoring",
        MonitoringStackArgs.from_settings(settings, cluster.provider, [e.spec for e in here]),
        opts=pulumi.ResourceOptions(depends_on=[namespaces, *cluster.serving_prerequisites]),
    )
    autoscaling = KedaAutoscaling(
        "autoscaling",
        KedaAutoscalingArgs.from_settings(settings, cluster.provider, [e.spec for e in here]),
        opts=pulumi.ResourceOptions(depends_on=[namespaces, *cluster.serving_prerequisites]),
    )

    for name, value in cluster.exports.items():
        pulumi.export(name, value)
    pulumi.export(
        outputs.NAMESPACES, {"platform": namespaces.platform, "models": namespaces.models}
    )
    pulumi.export(
        outputs.MODELS,
        {name: {"versions": s.versions, "images": s.images} for name, s in services.items()},
    )
    pulumi.export(outputs.MONITORING, {"charts": monitoring.charts, "alerts": monitoring.models})
    # What `commands.fleet affected` compares a model's change with: whether the platform too
    # must be previewed.
    pulumi.export(outputs.ADMITTED_IMAGES, admission.allowed_images)
    pulumi.export(
        outputs.AUTOSCALING,
        {"kedaChart": autoscaling.chart, "scaledObjects": autoscaling.scaled_objects},
    )
