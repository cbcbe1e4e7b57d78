"""The platform's namespaces: one for shared services, one for the models, both under the
restricted Pod Security Standard so that nothing privileged can run there by accident, and one
for node agents that need the host, at the level they need and nothing else in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.facts import labels
from components.facts.gpu import GPU_RESOURCE
from components.facts.namespaces import NODE_AGENTS_NAMESPACE, NODE_AGENTS_POD_SECURITY_LEVEL
from components.facts.versions import KUBERNETES_VERSION
from components.settings.model import PlatformSettings
from components.tokens import renamed, type_token

POD_SECURITY_LEVEL = "restricted"
# The node agents' namespace (name, level and why) is a shared fact: components/facts/namespaces.py.


def namespace_metadata(
    name: str, role: str, environment: str, level: str = POD_SECURITY_LEVEL
) -> dict[str, Any]:
    """Metadata of a platform namespace: ownership labels and Pod Security admission labels."""
    namespace_labels = {
        labels.PART_OF: labels.PART_OF_VALUE,
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.ROLE_LABEL: role,
        labels.ENVIRONMENT_LABEL: environment,
    }
    # enforce rejects violating pods; audit and warn report them too, e.g. in `kubectl apply`.
    for mode in ("enforce", "audit", "warn"):
        namespace_labels[f"{labels.POD_SECURITY_PREFIX}/{mode}"] = level
        namespace_labels[f"{labels.POD_SECURITY_PREFIX}/{mode}-version"] = f"v{KUBERNETES_VERSION}"
    return {"name": name, "labels": namespace_labels}


GPU_QUOTA_NAME = "gpu-quota"


def gpu_quota(namespace: str, gpu_budget: int) -> dict[str, Any]:
    """The ResourceQuota capping the GPUs a namespace's pods may request at once: the stack's
    GPU budget, so the cluster refuses at admission what review would refuse. Extended resources
    take a requests quota only (their requests equal their limits)."""
    return {
        "metadata": {
            "name": GPU_QUOTA_NAME,
            "namespace": namespace,
            "labels": {
                labels.PART_OF: labels.PART_OF_VALUE,
                labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
            },
        },
        "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(gpu_budget)}},
    }


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
    gpu_budget: int
    """GPUs the models namespace's pods may request at once (its ResourceQuota)."""

    @classmethod
    def from_settings(
        cls, settings: PlatformSettings, provider: k8s.Provider
    ) -> PlatformNamespacesArgs:
        return cls(
            provider=provider,
            environment=settings.environment,
            platform=settings.platform_namespace,
            models=settings.models_namespace,
            gpu_budget=settings.gpu_budget,
        )


class PlatformNamespaces(pulumi.ComponentResource):
    platform: pulumi.Output[str]
    models: pulumi.Output[str]
    node_agents: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformNamespacesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("target", PlatformNamespaces),
            name,
            None,
            renamed(opts, "platform:Namespaces"),
        )
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
        quota = gpu_quota(args.models, args.gpu_budget)
        k8s.core.v1.ResourceQuota(
            f"{name}-models-gpu-quota",
            metadata=quota["metadata"],
            spec=quota["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[models]),
        )
        node_agents = k8s.core.v1.Namespace(
            f"{name}-node-agents",
            metadata=namespace_metadata(
                NODE_AGENTS_NAMESPACE,
                "node-agents",
                args.environment,
                NODE_AGENTS_POD_SECURITY_LEVEL,
            ),
            opts=child,
        )
        self.platform = _name_of(platform)
        self.models = _name_of(models)
        self.node_agents = _name_of(node_agents)
        self.register_outputs(
            {"platform": self.platform, "models": self.models, "nodeAgents": self.node_agents}
        )
