"""ModelMonitoring: registers one model's ServiceMonitor (components.monitoring.scrape),
PrometheusRule (alerts) and Grafana dashboard ConfigMap (dashboard), built by those pure modules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.catalog.spec import ModelSpec
from components.monitoring.alerts import alerts, prometheus_rule
from components.monitoring.dashboard import dashboard_config_map, dashboard_uid
from components.monitoring.scrape import service_monitor
from components.tokens import type_token


@dataclass(frozen=True)
class ModelMonitoringArgs:
    spec: ModelSpec
    namespace: str
    """The models namespace: the monitoring objects live beside the model they watch."""
    provider: pulumi.ProviderResource


class ModelMonitoring(pulumi.ComponentResource):
    """A model's ServiceMonitor, PrometheusRule and Grafana dashboard."""

    alert_names: list[str]
    dashboard_uid: str

    def __init__(
        self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("monitoring", ModelMonitoring), name, None, opts)
        spec, namespace = args.spec, args.namespace
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        for suffix, body in (
            ("service-monitor", service_monitor(spec, namespace)),
            ("slo-rules", prometheus_rule(spec, namespace)),
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{suffix}",
                api_version=body["apiVersion"],
                kind=body["kind"],
                metadata=body["metadata"],
                spec=body["spec"],
                opts=child,
            )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard", **dashboard_config_map(spec, namespace), opts=child
        )
        self.alert_names = [alert.name for alert in alerts(spec, namespace)]
        self.dashboard_uid = dashboard_uid(spec)
        self.register_outputs({"alertNames": self.alert_names, "dashboardUid": self.dashboard_uid})
