"""The platform's monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana,
kube-state-metrics, node exporter), NVIDIA's DCGM exporter for GPU metrics, the
prometheus-operator CRDs, and each model's ServiceMonitor, PrometheusRule and dashboard.

Charts are pinned in components/facts/versions.py and rendered by helm.v3.Chart, which registers
each object the chart makes as a resource of its own: every object shows in the preview, is
diffed and passes the policy pack, and rendering needs no cluster (the `local` stack's
manifests). helm.v4.Chart does the same, but in the pinned provider (4.25) it renders for the
Kubernetes version and API versions it discovers from the cluster, and without one for Helm's
built-in v1.20.0, which kube-prometheus-stack refuses (`kubeVersion: >=1.25.0-0`); v3 takes
`kube_version` and `api_versions`. We give both always, on a cluster too: the objects then do not
depend on what the cluster serves at preview (on a first deploy the operator's CRDs do not exist
yet, and a chart checking `.Capabilities` for them would render differently before and after).
helm.v3.Release would hand the objects to Helm inside the provider, unseen by the policies.

A chart whose source is not set is skipped with a warning; the per-model objects and the CRDs
they need are registered either way, so a cluster that gets the charts later is already wired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.spec import ModelSpec
from components.facts import labels
from components.facts.namespaces import NODE_AGENTS_NAMESPACE
from components.facts.versions import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, KUBERNETES_RELEASE
from components.monitoring.crds import (
    CRD_PLURALS,
    OPERATOR_CRD_PLURALS,
    ChartCapabilities,
    crd_bodies,
)
from components.monitoring.generated_password import GeneratedPassword
from components.monitoring.model_component import ModelMonitoring, ModelMonitoringArgs
from components.monitoring.values import (
    GRAFANA_ADMIN_SECRET,
    GRAFANA_ADMIN_USER,
    GRAFANA_PASSWORD_LENGTH,
    dcgm_exporter_values,
    grafana_admin_out_of_band,
    prometheus_stack_values,
    skipped_warning,
)
from components.settings.charts import ChartSource
from components.settings.charts import chart_source as to_chart_source
from components.settings.model import LocalSettings, PlatformSettings
from components.settings.monitoring import AlertRoute, PrometheusResources
from components.tokens import AT_A_MODELS_STACK_TOP_LEVEL, type_token


@dataclass(frozen=True)
class MonitoringStackArgs:
    provider: pulumi.ProviderResource
    platform_namespace: str
    """Where Prometheus, Alertmanager and Grafana run (restricted Pod Security)."""
    models_namespace: str
    """Where the models, and so their ServiceMonitors, rules and dashboards, are."""
    models: list[ModelSpec]
    retention: str
    prometheus_resources: PrometheusResources
    alert_routes: list[AlertRoute] = field(default_factory=list)
    prometheus_stack: ChartSource | None = None
    """None: the chart's source is not set; it is skipped with a warning."""
    dcgm_exporter: ChartSource | None = None
    kubernetes_version: str = KUBERNETES_RELEASE
    """What the charts are rendered for (kubeVersion constraints, .Capabilities.KubeVersion)."""
    node_agents_namespace: str = NODE_AGENTS_NAMESPACE
    """Where node agents needing host access run (its own Pod Security level)."""
    grafana_admin_in_state: bool = True
    image_registry: str | None = None
    """The ECR registry whose pull-through cache serves the charts' images; None: upstream."""
    """True: Grafana's admin password is generated once, kept encrypted in state and written to
    the Secret Grafana reads. False (render mode): no password and no Secret; the manifests go
    to files in plain text, so the Secret is created out of band before they are applied
    (README, Monitoring) and Grafana references it by name either way."""

    @classmethod
    def from_settings(
        cls,
        settings: PlatformSettings,
        provider: pulumi.ProviderResource,
        models: list[ModelSpec],
    ) -> MonitoringStackArgs:
        stack = settings.chart_source(KUBE_PROMETHEUS_STACK)
        dcgm = settings.chart_source(DCGM_EXPORTER)
        return cls(
            provider=provider,
            platform_namespace=settings.platform_namespace,
            models_namespace=settings.models_namespace,
            models=models,
            retention=settings.prometheus_retention,
            prometheus_resources=settings.prometheus_resources,
            alert_routes=list(settings.alert_routes),
            prometheus_stack=to_chart_source(stack, KUBE_PROMETHEUS_STACK) if stack else None,
            dcgm_exporter=to_chart_source(dcgm, DCGM_EXPORTER) if dcgm else None,
            kubernetes_version=settings.chart_kubernetes_version,
            image_registry=settings.chart_image_registry,
            grafana_admin_in_state=not (
                isinstance(settings, LocalSettings) and settings.renders_manifests
            ),
        )


# Kinds whose `rules` list the API server drops when empty (omitempty): an empty list kept in the
# inputs would read as a change against the stored object on every preview after `up`.
RBAC_ROLE_KINDS = ("Role", "ClusterRole")


def as_the_api_server_stores(obj: dict[str, Any], _opts: pulumi.ResourceOptions) -> None:
    """A chart object as the API server keeps it: Grafana's chart renders its namespaced Role
    with `rules: []` when it grants through its ClusterRole (rbac.namespaced false); the server
    stores no `rules`, and the provider then planned an update of that Role on every preview."""
    if obj.get("kind") in RBAC_ROLE_KINDS and obj.get("rules") == []:
        del obj["rules"]


def _helm_chart(
    name: str,
    source: ChartSource,
    namespace: str,
    values: dict[str, Any],
    capabilities: ChartCapabilities,
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Chart:
    common: dict[str, Any] = {
        "namespace": namespace,
        "values": values,
        # The operator's CRDs are ours (crd_bodies); the chart's `crds/` would be a second owner.
        "skip_crd_rendering": True,
        "kube_version": capabilities.kube_version,
        "api_versions": list(capabilities.api_versions),
        "transformations": [as_the_api_server_stores],
    }
    config: k8s.helm.v3.ChartOpts | k8s.helm.v3.LocalChartOpts
    if source.is_directory:
        config = k8s.helm.v3.LocalChartOpts(path=source.chart, **common)
    else:
        fetch = k8s.helm.v3.FetchOpts(repo=source.repository) if source.repository else None
        config = k8s.helm.v3.ChartOpts(
            chart=source.chart, version=source.version, fetch_opts=fetch, **common
        )
    return k8s.helm.v3.Chart(name, config, opts=opts)


class MonitoringStack(pulumi.ComponentResource):
    charts: dict[str, str]
    """Chart version deployed, by chart name; a skipped chart is absent."""
    crds: list[str]
    models: dict[str, list[str]]
    """Alert names of each model."""
    grafana_admin_password: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("monitoring", MonitoringStack), name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        # Without the chart only the kinds our objects use are needed; with it, every kind the
        # operator reads. Adding the chart later adds CRDs and touches none of these.
        plurals = OPERATOR_CRD_PLURALS if args.prometheus_stack else CRD_PLURALS
        crds = [
            k8s.apiextensions.v1.CustomResourceDefinition(
                f"{name}-crd-{plural}", **body, opts=child
            )
            for plural, body in crd_bodies(plurals).items()
        ]
        self.crds = sorted(plurals)
        capabilities = ChartCapabilities.of(args.kubernetes_version, crd_bodies(plurals).values())
        after_crds = child.merge(pulumi.ResourceOptions(depends_on=crds))

        self.models = {}
        for spec in args.models:
            watch = ModelMonitoring(
                f"{spec.name}-monitoring",
                ModelMonitoringArgs(spec, args.models_namespace, args.provider),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=crds, aliases=[AT_A_MODELS_STACK_TOP_LEVEL]
                ),
            )
            self.models[spec.name] = watch.alert_names

        self.charts = {}
        self.grafana_admin_password = None
        if args.prometheus_stack is None:
            pulumi.log.warn(skipped_warning(KUBE_PROMETHEUS_STACK, "prometheusStackChart"), self)
        else:
            admin: list[pulumi.Resource] = []
            if args.grafana_admin_in_state:
                password = GeneratedPassword(
                    f"{name}-grafana-admin-password",
                    GRAFANA_PASSWORD_LENGTH,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                admin.append(
                    k8s.core.v1.Secret(
                        f"{name}-grafana-admin",
                        metadata={
                            "name": GRAFANA_ADMIN_SECRET,
                            "namespace": args.platform_namespace,
                            "labels": {labels.PART_OF: labels.PART_OF_VALUE},
                        },
                        string_data={
                            "admin-user": GRAFANA_ADMIN_USER,
                            "admin-password": password.result,
                        },
                        opts=child,
                    )
                )
                self.grafana_admin_password = password.result
            else:
                pulumi.log.info(
                    grafana_admin_out_of_band(args.platform_namespace, GRAFANA_ADMIN_SECRET), self
                )
            values = prometheus_stack_values(
                args.retention,
                args.prometheus_resources,
                args.alert_routes,
                GRAFANA_ADMIN_SECRET,
                args.node_agents_namespace,
                args.image_registry,
            )
            # Grafana reads its admin from the Secret: the chart starts after it exists.
            _helm_chart(
                KUBE_PROMETHEUS_STACK.name,
                args.prometheus_stack,
                args.platform_namespace,
                values,
                capabilities,
                after_crds.merge(pulumi.ResourceOptions(depends_on=admin)),
            )
            self.charts[KUBE_PROMETHEUS_STACK.name] = KUBE_PROMETHEUS_STACK.version

        if args.dcgm_exporter is None:
            pulumi.log.warn(skipped_warning(DCGM_EXPORTER, "dcgmExporterChart"), self)
        else:
            _helm_chart(
                DCGM_EXPORTER.name,
                args.dcgm_exporter,
                args.node_agents_namespace,
                dcgm_exporter_values(),
                capabilities,
                after_crds,
            )
            self.charts[DCGM_EXPORTER.name] = DCGM_EXPORTER.version

        self.register_outputs(
            {
                "charts": self.charts,
                "crds": self.crds,
                "models": self.models,
                "grafanaAdminPassword": self.grafana_admin_password,
            }
        )
