"""gpu-model-platform: validated settings in, one platform out. Each piece lives in components/."""

import pulumi

from components import outputs
from components.cluster import LocalCluster, LocalClusterArgs
from components.config import load_settings
from components.namespaces import PlatformNamespaces, PlatformNamespacesArgs

settings = load_settings()

cluster = LocalCluster(
    "local",
    LocalClusterArgs(
        kubeconfig=settings.kubeconfig,
        context=settings.kube_context,
        render_directory=settings.render_directory,
    ),
)
namespaces = PlatformNamespaces(
    "namespaces",
    PlatformNamespacesArgs(
        provider=cluster.provider,
        environment=settings.environment,
        platform=settings.platform_namespace,
        models=settings.models_namespace,
    ),
)

pulumi.export(outputs.CLUSTER_MODE, cluster.mode)
pulumi.export(outputs.RENDER_DIRECTORY, cluster.render_directory)
pulumi.export(outputs.NAMESPACES, {"platform": namespaces.platform, "models": namespaces.models})
