"""KedaAutoscaling: KEDA's CRDs, the KEDA chart when its source is set, and a ScaledObject per
track of every model whose autoscaling metric is a serving signal (components.autoscaling)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.autoscaling.crds import crd_bodies
from components.autoscaling.scaled_object import prometheus_address, scaled_object
from components.autoscaling.values import keda_values, skipped_warning
from components.catalog.spec import ModelSpec
from components.facts.versions import KEDA
from components.serving import builders as serving
from components.settings.charts import ChartSource
from components.settings.charts import chart_source as to_chart_source
from components.settings.model import PlatformSettings
from components.tokens import AT_A_MODELS_STACK_TOP_LEVEL, type_token

CHART_KEY = "kedaChart"


@dataclass(frozen=True)
class KedaAutoscalingArgs:
    provider: pulumi.ProviderResource
    platform_namespace: str
    """Where KEDA's operator and metrics API server run."""
    models_namespace: str
    models: list[ModelSpec]
    prometheus: str
    """The URL the triggers query."""
    chart: ChartSource | None = None
    """None: the chart's source is not set; it is skipped with a warning."""
    image_registry: str | None = None
    """The ECR registry whose pull-through cache serves KEDA's images; None: ghcr.io."""

    @classmethod
    def from_settings(
        cls, settings: PlatformSettings, provider: pulumi.ProviderResource, models: list[ModelSpec]
    ) -> KedaAutoscalingArgs:
        return cls(
            provider=provider,
            platform_namespace=settings.platform_namespace,
            models_namespace=settings.models_namespace,
            models=models,
            prometheus=prometheus_address(
                settings.autoscaling_prometheus_url, settings.platform_namespace
            ),
            chart=to_chart_source(settings.keda_chart, KEDA) if settings.keda_chart else None,
            image_registry=settings.chart_image_registry,
        )


def register_scaled_objects(
    spec: ModelSpec, args: KedaAutoscalingArgs, opts: pulumi.ResourceOptions
) -> list[str]:
    """The ScaledObjects of a model scaling through KEDA, one a track, registered with `opts`;
    their names (none when the model does not use KEDA). The platform stack registers them under
    its KedaAutoscaling, a models stack at its top level (programs/models.py)."""
    if not spec.autoscaling.uses_keda:
        return []
    names = []
    # The image is the Deployment's business; a ScaledObject only names the track.
    for track in serving.tracks(spec, {v: None for v in spec.served_versions}):
        body = scaled_object(spec, track, args.models_namespace, args.prometheus)
        k8s.apiextensions.CustomResource(
            scaled_object_resource_name(spec.name, track.name),
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=body["metadata"],
            spec=body["spec"],
            opts=opts,
        )
        names.append(body["metadata"]["name"])
    return names


def scaled_object_resource_name(model: str, track: str) -> str:
    return f"{model}-{track}-scaledobject"


class KedaAutoscaling(pulumi.ComponentResource):
    chart: str | None
    """The KEDA chart version deployed; None when skipped."""
    scaled_objects: dict[str, list[str]]
    """ScaledObject names of each model scaling through KEDA."""

    def __init__(
        self, name: str, args: KedaAutoscalingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("autoscaling", KedaAutoscaling), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        crds = [
            k8s.apiextensions.v1.CustomResourceDefinition(f"{name}-crd-{crd}", **body, opts=child)
            for crd, body in crd_bodies().items()
        ]
        after_crds = child.merge(
            pulumi.ResourceOptions(depends_on=crds, aliases=[AT_A_MODELS_STACK_TOP_LEVEL])
        )

        self.scaled_objects = {}
        for spec in args.models:
            names = register_scaled_objects(spec, args, after_crds)
            if names:
                self.scaled_objects[spec.name] = names

        self.chart = None
        if args.chart is None:
            pulumi.log.warn(skipped_warning(CHART_KEY), self)
        else:
            k8s.helm.v4.Chart(
                KEDA.name,
                chart=args.chart.chart,
                version=args.chart.version,
                repository_opts=(
                    k8s.helm.v4.RepositoryOptsArgs(repo=args.chart.repository)
                    if args.chart.repository
                    else None
                ),
                namespace=args.platform_namespace,
                values=keda_values(args.models_namespace, args.image_registry),
                opts=after_crds,
            )
            self.chart = KEDA.version
        self.register_outputs({"chart": self.chart, "scaledObjects": self.scaled_objects})
