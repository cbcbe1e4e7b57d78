"""The platform's monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana,
kube-state-metrics, node exporter), NVIDIA's DCGM exporter for GPU metrics, the
prometheus-operator CRDs, and each model's ServiceMonitor, PrometheusRule and dashboard.

Charts are pinned in components/facts/versions.py and rendered client-side by helm.v4.Chart,
like the device plugin's: every object shows in the preview and passes the policy pack, and
rendering works without a cluster (the `local` stack's manifests). helm.v3.Release would hand the
objects to Helm inside the provider, unseen by the preview and the policies, and needs a cluster.

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
from components.facts.versions import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK
from components.monitoring.crds import CRD_PLURALS, OPERATOR_CRD_PLURALS, crd_bodies
from components.monitoring.generated_password import GeneratedPassword
from components.monitoring.model_component import ModelMonitoring, ModelMonitoringArgs
from components.monitoring.values import (
    GRAFANA_ADMIN_SECRET,
    GRAFANA_ADMIN_USER,
    GRAFANA_PASSWORD_LENGTH,
    NODE_AGENT_NAMESPACE,
    dcgm_exporter_values,
    prometheus_stack_values,
    skipped_warning,
)
from components.settings.charts import ChartSource
from components.settings.charts import chart_source as to_chart_source
from components.settings.model import PlatformSettings
from components.settings.monitoring import AlertRoute, PrometheusResources
from components.tokens import type_token


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

    @classmethod
    def from_settings(
        cls,
        settings: PlatformSettings,
        provider: pulumi.ProviderResource,
        models: list[ModelSpec],
    ) -> MonitoringStackArgs:
        stack, dcgm = settings.prometheus_stack_chart, settings.dcgm_exporter_chart
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
        )


def _helm_chart(
    name: str,
    source: ChartSource,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart:
    return k8s.helm.v4.Chart(
        name,
        chart=source.chart,
        version=source.version,
        repository_opts=(
            k8s.helm.v4.RepositoryOptsArgs(repo=source.repository) if source.repository else None
        ),
        namespace=namespace,
        values=values,
        # The operator's CRDs are ours (crd_bodies); the chart's `crds/` would be a second owner.
        skip_crds=True,
        opts=opts,
    )


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
        after_crds = child.merge(pulumi.ResourceOptions(depends_on=crds))

        self.models = {}
        for spec in args.models:
            watch = ModelMonitoring(
                f"{spec.name}-monitoring",
                ModelMonitoringArgs(spec, args.models_namespace, args.provider),
                opts=pulumi.ResourceOptions(parent=self, depends_on=crds),
            )
            self.models[spec.name] = watch.alert_names

        self.charts = {}
        self.grafana_admin_password = None
        if args.prometheus_stack is None:
            pulumi.log.warn(skipped_warning(KUBE_PROMETHEUS_STACK, "prometheusStackChart"), self)
        else:
            password = GeneratedPassword(
                f"{name}-grafana-admin-password",
                GRAFANA_PASSWORD_LENGTH,
                opts=pulumi.ResourceOptions(parent=self),
            )
            secret = k8s.core.v1.Secret(
                f"{name}-grafana-admin",
                metadata={
                    "name": GRAFANA_ADMIN_SECRET,
                    "namespace": args.platform_namespace,
                    "labels": {labels.PART_OF: labels.PART_OF_VALUE},
                },
                string_data={"admin-user": GRAFANA_ADMIN_USER, "admin-password": password.result},
                opts=child,
            )
            values = prometheus_stack_values(
                args.retention, args.prometheus_resources, args.alert_routes, GRAFANA_ADMIN_SECRET
            )
            # Grafana reads its admin from the Secret: the chart starts after it exists.
            _helm_chart(
                KUBE_PROMETHEUS_STACK.name,
                args.prometheus_stack,
                args.platform_namespace,
                values,
                after_crds.merge(pulumi.ResourceOptions(depends_on=[secret])),
            )
            self.charts[KUBE_PROMETHEUS_STACK.name] = KUBE_PROMETHEUS_STACK.version
            self.grafana_admin_password = password.result

        if args.dcgm_exporter is None:
            pulumi.log.warn(skipped_warning(DCGM_EXPORTER, "dcgmExporterChart"), self)
        else:
            _helm_chart(
                DCGM_EXPORTER.name,
                args.dcgm_exporter,
                NODE_AGENT_NAMESPACE,
                dcgm_exporter_values(),
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
