"""The platform's namespaces: one for shared services, one for the models, both under the
restricted Pod Security Standard so that nothing privileged can run there by accident."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster import KUBERNETES_VERSION
from components.config import PlatformSettings

PART_OF = "gpu-model-platform"
ROLE_LABEL = "gpu-model-platform/role"
ENVIRONMENT_LABEL = "gpu-model-platform/environment"
POD_SECURITY_LEVEL = "restricted"


def namespace_metadata(name: str, role: str, environment: str) -> dict[str, Any]:
    """Metadata of a platform namespace: ownership labels and Pod Security admission labels."""
    labels = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        ROLE_LABEL: role,
        ENVIRONMENT_LABEL: environment,
    }
    # enforce rejects violating pods; audit and warn report them too, e.g. in `kubectl apply`.
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{KUBERNETES_VERSION}"
    return {"name": name, "labels": labels}


def _name_of(namespace: k8s.core.v1.Namespace) -> pulumi.Output[str]:
    return namespace.metadata.apply(lambda metadata: str(metadata.name))


@dataclass(frozen=True)
class PlatformNamespacesArgs:
    provider: k8s.Provider
    environment: str
    platform: str
    """Name of the namespace for shared platform services."""
    models: str
    """Name of the namespace the model serving stacks run in."""

    @classmethod
    def from_settings(
        cls, settings: PlatformSettings, provider: k8s.Provider
    ) -> PlatformNamespacesArgs:
        return cls(
            provider=provider,
            environment=settings.environment,
            platform=settings.platform_namespace,
            models=settings.models_namespace,
        )


class PlatformNamespaces(pulumi.ComponentResource):
    platform: pulumi.Output[str]
    models: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformNamespacesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gpu-model-platform:platform:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        platform = k8s.core.v1.Namespace(
            f"{name}-platform",
            metadata=namespace_metadata(args.platform, "platform", args.environment),
            opts=child,
        )
        models = k8s.core.v1.Namespace(
            f"{name}-models",
            metadata=namespace_metadata(args.models, "models", args.environment),
            opts=child,
        )
        self.platform = _name_of(platform)
        self.models = _name_of(models)
        self.register_outputs({"platform": self.platform, "models": self.models})
