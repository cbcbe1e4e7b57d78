"""GatedImageAdmission: the ValidatingAdmissionPolicy and binding of components.serving.admission,
with the allow-list of every model's gated versions' images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.load import CatalogEntry
from components.serving import admission
from components.serving.component import image_reference
from components.settings.model import PlatformSettings
from components.tokens import type_token

if TYPE_CHECKING:
    from components.target.cluster import ClusterPath


def gated_images(
    entry: CatalogEntry, registry: str | pulumi.Output[str]
) -> list[str | pulumi.Output[str]]:
    """The image reference of every gated version of one model, as its pods would name it."""
    return [image_reference(entry, version, registry) for version in entry.gated]


@dataclass(frozen=True)
class GatedImageAdmissionArgs:
    provider: pulumi.ProviderResource
    namespace: str
    """The models namespace: the only one the binding matches."""
    images: Sequence[str | pulumi.Output[str]]
    """Every image the namespace admits."""

    @classmethod
    def from_catalog(
        cls, settings: PlatformSettings, catalog: Sequence[CatalogEntry], cluster: ClusterPath
    ) -> GatedImageAdmissionArgs:
        images = [
            image
            for entry in catalog
            for image in gated_images(entry, cluster.registries[entry.spec.name])
        ]
        return cls(provider=cluster.provider, namespace=settings.models_namespace, images=images)


class GatedImageAdmission(pulumi.ComponentResource):
    policy_name: pulumi.Output[str]
    allowed_images: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: GatedImageAdmissionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("serving", GatedImageAdmission), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.allowed_images = pulumi.Output.all(*args.images).apply(lambda i: sorted(set(i)))
        body = admission.policy([])
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata=body["metadata"],
            spec=self.allowed_images.apply(lambda images: admission.policy(images)["spec"]),
            opts=child,
        )
        binding = admission.binding(args.namespace)
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata=binding["metadata"],
            spec=binding["spec"],
            # A binding whose policy does not exist yet is ignored by the API server.
            opts=child.merge(pulumi.ResourceOptions(depends_on=[policy])),
        )
        self.policy_name = policy.metadata.apply(lambda m: str(m.name))
        self.register_outputs(
            {"policyName": self.policy_name, "allowedImages": self.allowed_images}
        )
