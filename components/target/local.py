"""The `local` cluster: an existing cluster from a kubeconfig, or none, with manifests rendered.

Either way the stack gets exactly one explicit Kubernetes provider, and every Kubernetes resource
is registered through it, so switching from rendering to a real cluster is a config change.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.settings.model import LocalSettings
from components.tokens import renamed, type_token


@dataclass(frozen=True)
class LocalClusterArgs:
    kubeconfig: str
    """Path to the kubeconfig of an existing cluster; empty renders manifests instead."""
    context: str
    """Context within the kubeconfig; empty uses its current context."""
    render_directory: str
    """Folder (relative to the project) that receives the manifests when there is no cluster."""

    @classmethod
    def from_settings(cls, settings: LocalSettings) -> LocalClusterArgs:
        return cls(
            kubeconfig=settings.kubeconfig,
            context=settings.kube_context,
            render_directory=settings.render_directory,
        )


def provider_args(args: LocalClusterArgs) -> k8s.ProviderArgs:
    """Arguments of the stack's Kubernetes provider."""
    if not args.kubeconfig:
        return k8s.ProviderArgs(render_yaml_to_directory=args.render_directory)
    return k8s.ProviderArgs(kubeconfig=args.kubeconfig, context=args.context or None)


class LocalCluster(pulumi.ComponentResource):
    """The local stack's cluster and the one Kubernetes provider everything in it goes through."""

    provider: k8s.Provider
    mode: str
    """"cluster" when deploying to a kubeconfig's cluster, "render" when writing manifests."""
    render_directory: str | None

    def __init__(
        self, name: str, args: LocalClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("target", LocalCluster),
            name,
            None,
            renamed(opts, "cluster:LocalCluster"),
        )
        self.mode = "cluster" if args.kubeconfig else "render"
        self.render_directory = None if args.kubeconfig else args.render_directory
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            provider_args(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"mode": self.mode, "renderDirectory": self.render_directory, "provider": self.provider}
        )
