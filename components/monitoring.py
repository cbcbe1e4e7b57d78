"""The platform's monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana,
kube-state-metrics, node exporter), NVIDIA's DCGM exporter for GPU metrics, the
prometheus-operator CRDs, and each model's ServiceMonitor, PrometheusRule and dashboard.

Charts are pinned in components/charts.py and rendered client-side by helm.v4.Chart, like the
device plugin's: every object shows in the preview and passes the policy pack, and rendering
works without a cluster (the `local` stack's manifests). helm.v3.Release would hand the objects
to Helm inside the provider, unseen by the preview and the policies, and needs a cluster.

A chart whose source is not set is skipped with a warning; the per-model objects and the CRDs
they need are registered either way, so a cluster that gets the charts later is already wired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import device_plugin
from components.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, ChartPin, ChartSource
from components.charts import chart_source as to_chart_source
from components.config import AlertRoute, PlatformSettings, PrometheusResources
from components.generated_password import GeneratedPassword
from components.gpu import any_gpu_node_affinity, gpu_toleration
from components.model_monitoring import ModelMonitoring, ModelMonitoringArgs
from components.modelspec import ModelSpec
from components.namespaces import PART_OF
from tools.operator_crds import CRD_PLURALS, OPERATOR_CRD_PLURALS, crd_files

PROMETHEUS_STACK_VALUES = Path(__file__).with_name("kube-prometheus-stack-values.yaml")
DCGM_EXPORTER_VALUES = Path(__file__).with_name("dcgm-exporter-values.yaml")
# Node agents with host paths and host networking cannot run under the restricted Pod Security
# Standard of the platform's namespaces (see components/device_plugin.py).
NODE_AGENT_NAMESPACE = device_plugin.NAMESPACE
GRAFANA_ADMIN_USER = "admin"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_PASSWORD_LENGTH = 32
# Keys the values files must leave to the code, which takes them from config or other components.
PROMETHEUS_STACK_OWNED = (
    ("prometheus", "prometheusSpec", "retention"),
    ("prometheus", "prometheusSpec", "resources"),
    ("alertmanager", "config", "route"),
    ("alertmanager", "config", "receivers"),
    ("grafana", "admin"),
    ("grafana", "adminPassword"),
    ("prometheus-node-exporter", "namespaceOverride"),
)
DCGM_EXPORTER_OWNED = (("affinity",), ("nodeSelector",), ("tolerations",))


def _load_values(values_file: Path, owned: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(values_file.read_text()) or {}
    for path in owned:
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            raise ValueError(
                f"{values_file.name} sets {'.'.join(path)}: components/monitoring.py sets it"
            )
    return values


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def alertmanager_config(routes: list[AlertRoute]) -> dict[str, Any]:
    """Route and receivers: each configured route to its webhook, anything else to "null"."""
    return {
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
            + [{"receiver": route.name, "matchers": list(route.matchers)} for route in routes],
        },
        "receivers": [{"name": "null"}]
        + [
            {
                "name": route.name,
                "webhook_configs": [{"url": route.webhook_url, "send_resolved": True}],
            }
            for route in routes
        ],
    }


def prometheus_stack_values(
    retention: str,
    resources: PrometheusResources,
    routes: list[AlertRoute],
    grafana_admin_secret: str,
    values_file: Path = PROMETHEUS_STACK_VALUES,
) -> dict[str, Any]:
    owned = {
        "prometheus": {
            "prometheusSpec": {
                "retention": retention,
                "resources": {
                    "requests": {"cpu": resources.cpu, "memory": resources.memory},
                    "limits": {"memory": resources.memory},
                },
            }
        },
        "alertmanager": {"config": alertmanager_config(routes)},
        "grafana": {
            "admin": {
                "existingSecret": grafana_admin_secret,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            }
        },
        "prometheus-node-exporter": {"namespaceOverride": NODE_AGENT_NAMESPACE},
    }
    return _merge(_load_values(values_file, PROMETHEUS_STACK_OWNED), owned)


def dcgm_exporter_values(values_file: Path = DCGM_EXPORTER_VALUES) -> dict[str, Any]:
    """GPU nodes only, whatever their GPU type, tolerating the GPU taint (components/gpu.py)."""
    placement = {"affinity": any_gpu_node_affinity(), "tolerations": [gpu_toleration()]}
    return {**_load_values(values_file, DCGM_EXPORTER_OWNED), **placement}


class CrdLoader(yaml.CSafeLoader):
    """YAML 1.1's `=` "value" tag, which PyYAML cannot construct, is plain text in the CRDs (an
    enum of matcher operators); libyaml's parser keeps the megabytes of CRDs quick to load."""


CrdLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def crd_bodies(plurals: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The pinned operator's CRDs, by plural, as metadata and spec."""
    bodies = {}
    for plural, path in crd_files(plurals=plurals).items():
        document = yaml.load(path.read_text(), Loader=CrdLoader)
        bodies[plural] = {"metadata": document["metadata"], "spec": document["spec"]}
    return bodies


def skipped_warning(pin: ChartPin, key: str) -> str:
    return (
        f"monitoring: {key} is not set, so the {pin.name} chart ({pin.version}) is skipped; set "
        f"it to {pin.repository} or to a directory holding the chart (`pulumi config set {key} "
        "...`). Each model's ServiceMonitor, PrometheusRule and dashboard are still registered."
    )


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
        super().__init__("gpu-model-platform:monitoring:MonitoringStack", name, None, opts)
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
                    "labels": {"app.kubernetes.io/part-of": PART_OF},
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
