"""gpu-model-platform: validated settings in, one platform out. Each piece lives in components/."""

from pathlib import Path

import pulumi

from components import outputs
from components.catalog import load_catalog
from components.config import load_settings
from components.model_service import ModelService, ModelServiceArgs
from components.monitoring import MonitoringStack, MonitoringStackArgs
from components.namespaces import PlatformNamespaces, PlatformNamespacesArgs
from components.platform import build_cluster

# Everything is validated before the first resource: bad input stops here and changes nothing.
settings = load_settings()
models = Path(__file__).resolve().parent / "models"
catalog = load_catalog(models, settings.max_gpus_per_pod, settings.node_gpu_types)

# local: an existing cluster or rendered manifests; dev and prod: EKS, GPU nodes and ECR on AWS.
cluster = build_cluster(settings, [entry.spec.name for entry in catalog])
namespaces = PlatformNamespaces(
    "namespaces", PlatformNamespacesArgs.from_settings(settings, cluster.provider)
)
services = {
    entry.spec.name: ModelService(
        entry.spec.name,
        ModelServiceArgs.from_settings(settings, entry, cluster),
        opts=pulumi.ResourceOptions(depends_on=[namespaces, *cluster.serving_prerequisites]),
    )
    for entry in catalog
}
monitoring = MonitoringStack(
    "monitoring",
    MonitoringStackArgs.from_settings(settings, cluster.provider, [e.spec for e in catalog]),
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
