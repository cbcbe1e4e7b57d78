"""One model's serving stack: its images, TF Serving Deployments (stable and canary), Service,
CPU autoscalers (KEDA's ScaledObjects are components.autoscaling's), disruption budget and
network policy, all labelled with model, version and track."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.load import CatalogEntry
from components.serving import builders as serving
from components.settings.model import PlatformSettings
from components.tokens import type_token

if TYPE_CHECKING:
    import pulumi_docker as docker

    from components.target.cluster import ClusterPath

DOCKERFILE = Path(__file__).with_name("model-image.Dockerfile")


@dataclass(frozen=True)
class ModelServiceArgs:
    entry: CatalogEntry
    namespace: str
    provider: pulumi.ProviderResource
    registry: str | pulumi.Output[str]
    """Image repository prefix, e.g. `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>`; an
    output when it comes from a repository created in the same run."""
    build_images: bool
    """Build and push each version's image (needs a Docker engine); else reference its tag."""
    registry_credentials: docker.RegistryArgs | None = None
    """Push credentials for `registry` when images are built (ECR); None: Docker's own login."""
    rollout_timeout_seconds: int = 600
    """How long `pulumi up` waits for a Deployment's new pods to become ready before failing."""

    @classmethod
    def from_settings(
        cls, settings: PlatformSettings, entry: CatalogEntry, cluster: ClusterPath
    ) -> ModelServiceArgs:
        """The model's serving stack on `cluster`, with its images in the cluster's registry."""
        return cls(
            entry=entry,
            namespace=settings.models_namespace,
            provider=cluster.provider,
            registry=cluster.registries[entry.spec.name],
            build_images=settings.build_images,
            registry_credentials=cluster.registry_credentials,
            rollout_timeout_seconds=settings.rollout_timeout_seconds,
        )


def image_reference(
    entry: CatalogEntry, version: int, registry: str | pulumi.Output[str]
) -> str | pulumi.Output[str]:
    """The reference of a gated version's image: a string, or an output when the registry is
    one."""
    digest = entry.gated[version]
    if isinstance(registry, pulumi.Output):
        return registry.apply(
            lambda prefix: serving.image_reference(prefix, entry.spec, version, digest)
        )
    return serving.image_reference(registry, entry.spec, version, digest)


def built_image(
    name: str, args: ModelServiceArgs, version: int, parent: pulumi.Resource
) -> pulumi.Resource:
    """The image of `version`, built and pushed by pulumi-docker."""
    # Imported here, not at the top: only a stack that builds images needs pulumi-docker, and
    # every engine run of every other stack would pay for its import (docs/fleet-scale.md).
    import pulumi_docker as docker

    spec = args.entry.spec
    build = docker.ImageArgs(
        image_name=image_reference(args.entry, version, args.registry),
        registry=args.registry_credentials,
        build=docker.DockerBuildArgs(
            context=str(args.entry.directory),
            dockerfile=str(DOCKERFILE),
            platform="linux/amd64",
            args={
                "SERVING_IMAGE": serving.serving_base_image(spec),
                "MODEL_NAME": spec.name,
                "MODEL_VERSION": str(version),
            },
        ),
        # A preview must not need a Docker engine; the image is built when it ships.
        build_on_preview=False,
    )
    return docker.Image(name, build, opts=pulumi.ResourceOptions(parent=parent))


class ModelService(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    versions: dict[str, int]
    """Version served by each track, e.g. {"stable": 2, "canary": 3}."""
    images: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("serving", ModelService), name, None, opts)
        spec, namespace = args.entry.spec, args.namespace
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)

        # Pods run the content-digest tag, known at preview so reviewers and the image-provenance
        # policy see the exact image; the registry's immutable tags make the tag a pin. Built
        # images are pushed before any Deployment rolls onto them.
        images: dict[int, pulumi.Input[str]] = {}
        pushed: list[pulumi.Resource] = []
        for version in spec.served_versions:
            images[version] = image_reference(args.entry, version, args.registry)
            if args.build_images:
                pushed.append(built_image(f"{name}-image-v{version}", args, version, self))

        account_body = serving.service_account(spec, namespace)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=account_body["metadata"],
            automount_service_account_token=account_body["automountServiceAccountToken"],
            opts=k8s_opts,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-tfserving", **serving.config_map(spec, namespace), opts=k8s_opts
        )
        config_name = config.metadata.apply(lambda m: str(m.name))
        # Pods of a Deployment cannot start before their ServiceAccount exists.
        after_account = k8s_opts.merge(pulumi.ResourceOptions(depends_on=[account, *pushed]))
        # A rollout whose pods never become ready fails the update after this long, instead of
        # the provider's default of ten minutes.
        rollout_wait = f"{args.rollout_timeout_seconds}s"
        deployment_opts = after_account.merge(
            pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=rollout_wait, update=rollout_wait)
            )
        )
        self.versions = {}
        self.images = {}
        for track in serving.tracks(spec, images, args.entry.startup):
            self.versions[track.name] = track.version
            self.images[track.name] = pulumi.Output.from_input(track.image)
            k8s.apps.v1.Deployment(
                f"{name}-{track.name}",
                **serving.deployment(spec, track, namespace, config_name),
                opts=deployment_opts,
            )
            if not spec.autoscaling.uses_keda:  # else its ScaledObject: components.autoscaling
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{name}-{track.name}-autoscaler",
                    **serving.horizontal_pod_autoscaler(spec, track, namespace),
                    opts=k8s_opts,
                )
        service = k8s.core.v1.Service(
            f"{name}-service", **serving.service(spec, namespace), opts=k8s_opts
        )
        budget = serving.pod_disruption_budget(spec, namespace)
        if budget is not None:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-disruption-budget", **budget, opts=k8s_opts)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy", **serving.network_policy(spec, namespace), opts=k8s_opts
        )
        self.service_name = service.metadata.apply(lambda m: str(m.name))
        self.register_outputs(
            {"serviceName": self.service_name, "versions": self.versions, "images": self.images}
        )
