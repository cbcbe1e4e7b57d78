"""gpu-model-platform: validated settings in, one platform out. Each piece lives in components/."""

from pathlib import Path

import pulumi

from components import outputs
from components.autoscaling.component import KedaAutoscaling, KedaAutoscalingArgs
from components.catalog.load import load_catalog
from components.monitoring.component import MonitoringStack, MonitoringStackArgs
from components.serving.admission_component import GatedImageAdmission, GatedImageAdmissionArgs
from components.serving.component import ModelService, ModelServiceArgs
from components.settings.load import load_settings
from components.target.cluster import build_cluster, with_device_plugin
from components.target.namespaces import PlatformNamespaces, PlatformNamespacesArgs

# Everything is validated before the first resource: bad input stops here and changes nothing.
settings = load_settings()
models = Path(__file__).resolve().parent / "models"
catalog = load_catalog(models, settings.max_gpus_per_pod, settings.node_gpu_types)

# local: an existing cluster or rendered manifests; dev and prod: EKS, GPU nodes and ECR on AWS.
cluster = build_cluster(settings, [entry.spec.name for entry in catalog])
namespaces = PlatformNamespaces(
    "namespaces", PlatformNamespacesArgs.from_settings(settings, cluster.provider)
)
# EKS: the NVIDIA device plugin, a node agent, advertises the GPUs from the node agents' namespace.
cluster = with_device_plugin(cluster, namespaces)
# The models namespace admits only gated images; the allow-list changes before any rollout.
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
    for entry in catalog
}
monitoring = MonitoringStack(
    "monitoring",
    MonitoringStackArgs.from_settings(settings, cluster.provider, [e.spec for e in catalog]),
    opts=pulumi.ResourceOptions(depends_on=[namespaces, *cluster.serving_prerequisites]),
)
autoscaling = KedaAutoscaling(
    "autoscaling",
    KedaAutoscalingArgs.from_settings(settings, cluster.provider, [e.spec for e in catalog]),
    opts=pulumi.ResourceOptions(depends_on=[namespaces, *cluster.serving_prerequisites]),
)

for name, value in cluster.exports.items():
    pulumi.export(name, value)
pulumi.export(outputs.NAMESPACES, {"platform": namespaces.platform, "models": namespaces.models})
pulumi.export(
    outputs.MODELS,
    {name: {"versions": s.versions, "images": s.images} for name, s in services.items()},
)
pulumi.export(outputs.MONITORING, {"charts": monitoring.charts, "alerts": monitoring.models})
pulumi.export(
    outputs.AUTOSCALING,
    {"kedaChart": autoscaling.chart, "scaledObjects": autoscaling.scaled_objects},
)
