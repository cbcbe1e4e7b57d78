"""gpu-model-platform: validated settings in, one platform out. Each piece lives in components/."""

from pathlib import Path

import pulumi

from components import outputs
from components.catalog import load_catalog
from components.cluster import LocalCluster, LocalClusterArgs
from components.config import load_settings
from components.model_service import ModelService, ModelServiceArgs
from components.namespaces import PlatformNamespaces, PlatformNamespacesArgs

# Everything is validated before the first resource: bad input stops here and changes nothing.
settings = load_settings()
catalog = load_catalog(Path(__file__).resolve().parent / "models", settings.max_gpus_per_pod)

cluster = LocalCluster("local", LocalClusterArgs.from_settings(settings))
namespaces = PlatformNamespaces(
    "namespaces", PlatformNamespacesArgs.from_settings(settings, cluster.provider)
)
services = {
    entry.spec.name: ModelService(
        entry.spec.name,
        ModelServiceArgs.from_settings(settings, entry, cluster.provider),
        opts=pulumi.ResourceOptions(depends_on=[namespaces]),
    )
    for entry in catalog
}

pulumi.export(outputs.CLUSTER_MODE, cluster.mode)
pulumi.export(outputs.RENDER_DIRECTORY, cluster.render_directory)
pulumi.export(outputs.NAMESPACES, {"platform": namespaces.platform, "models": namespaces.models})
pulumi.export(
    outputs.MODELS,
    {name: {"versions": s.versions, "images": s.images} for name, s in services.items()},
)
