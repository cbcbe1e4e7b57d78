"""One model's monitoring, generated from its ModelSpec: a ServiceMonitor for TF Serving's
Prometheus metrics, a PrometheusRule with its SLO alerts, and a Grafana dashboard ConfigMap.

Pure builders return plain Kubernetes dicts (testable alone, validated against the pinned
prometheus-operator CRDs and by promtool in the tests); ModelMonitoring registers them.

Metric facts, from the sources of the versions we pin:
  * TF Serving 2.18 (`tensorflow_serving/servables/tensorflow/util.cc`): the counter
    `/tensorflow/serving/request_count{model_name, status}` (status: a gRPC code name, "OK" on
    success) and the histogram `/tensorflow/serving/request_latency{model_name, API, entrypoint}`
    in MICROSECONDS. Its Prometheus exporter turns `/` into `:`, and counters get no `_total`.
  * DCGM exporter 4.x: `DCGM_FI_DEV_GPU_UTIL` (percent), `DCGM_FI_DEV_FB_USED` (MiB), labelled
    with the `namespace` and `pod` using the GPU (kept by honorLabels, dcgm-exporter-values.yaml).
  * kube-state-metrics: `kube_deployment_status_replicas_ready`, and the restart counter with
    the last termination reason per container, for OOM kills.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, get_args

import pulumi
import pulumi_kubernetes as k8s

from components import serving
from components.modelspec import ModelSpec

SCRAPE_INTERVAL = "30s"
RATE_WINDOW = "5m"
# Pod labels copied onto every scraped series, so latency and errors split by track and version
# (a canary is judged against the stable track). Prometheus writes them with `_` for `/` and `-`.
POD_TARGET_LABELS = (serving.TRACK_LABEL, serving.VERSION_LABEL)
TRACK = "gpu_model_platform_track"

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY_BUCKET = ":tensorflow:serving:request_latency_bucket"
MICROSECONDS_PER_MS = 1000
# Codes that are the server's fault. Client mistakes (INVALID_ARGUMENT, NOT_FOUND, ...) show on
# the dashboard but do not count against the model's error budget.
SERVER_ERROR_CODES = (
    "UNKNOWN",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "ABORTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
)

GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
GPU_MEMORY_USED_MIB = "DCGM_FI_DEV_FB_USED"
# Percent of GPU time busy, averaged over the model's GPUs: above SATURATED for SATURATED_FOR the
# model needs more replicas (or a bigger GPU); below IDLE for IDLE_FOR it holds GPUs it does not
# use, which other models are waiting for.
GPU_SATURATED_PERCENT = 90
GPU_SATURATED_FOR = "15m"
GPU_IDLE_PERCENT = 5
GPU_IDLE_FOR = "1h"

# The label and value Grafana's dashboard sidecar looks for (kube-prometheus-stack's defaults,
# searching every namespace).
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"
DASHBOARD_SCHEMA_VERSION = 39  # Grafana 11's dashboard schema


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str

    def rule(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, "model": spec.name, "owner": spec.owner},
            "annotations": {"summary": self.summary, "description": spec.description},
        }


def _selector(spec: ModelSpec, namespace: str) -> str:
    """Series of this model's serving pods, as scraped through its ServiceMonitor."""
    service = serving.object_name(spec, "serving")
    return f'namespace="{namespace}", service="{service}", model_name="{spec.name}"'


def deployment_names(spec: ModelSpec) -> list[str]:
    """Both tracks' Deployments, whether or not the spec has a canary now: starting or ending a
    canary then changes no monitoring object, and a track without pods has no series."""
    return [serving.object_name(spec, track) for track in get_args(serving.TrackName)]


def _pods(spec: ModelSpec, namespace: str) -> str:
    """The model's pods by name: `<deployment>-<replicaset hash>-<suffix>`."""
    deployments = "|".join(deployment_names(spec))
    return f'namespace="{namespace}", pod=~"({deployments})-[a-z0-9]+-[a-z0-9]+"'


def request_rate(spec: ModelSpec, namespace: str, by: str = "", extra: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return (
        f"sum{grouping} (rate({REQUEST_COUNT}{{{_selector(spec, namespace)}{extra}}}"
        f"[{RATE_WINDOW}]))"
    )


def latency_quantile_ms(spec: ModelSpec, namespace: str, quantile: float, by: str = "") -> str:
    grouping = ", ".join(["le", by]) if by else "le"
    buckets = f"{REQUEST_LATENCY_BUCKET}{{{_selector(spec, namespace)}}}"
    return (
        f"histogram_quantile({quantile}, sum by ({grouping}) (rate({buckets}[{RATE_WINDOW}])))"
        f" / {MICROSECONDS_PER_MS}"
    )


def server_error_ratio(spec: ModelSpec, namespace: str) -> str:
    codes = "|".join(SERVER_ERROR_CODES)
    errors = request_rate(spec, namespace, extra=f', status=~"{codes}"')
    return f"{errors} / {request_rate(spec, namespace)}"


def ready_replicas(spec: ModelSpec, namespace: str) -> str:
    deployments = "|".join(deployment_names(spec))
    return (
        "max by (deployment) (kube_deployment_status_replicas_ready"
        f'{{namespace="{namespace}", deployment=~"{deployments}"}})'
    )


def gpu_utilisation(spec: ModelSpec, namespace: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"avg{grouping} ({GPU_UTIL}{{{_pods(spec, namespace)}}})"


def alerts(spec: ModelSpec, namespace: str) -> list[Alert]:
    """The model's SLO alerts; the GPU ones only for a model that asks for GPUs."""
    target_ms = spec.slo.p99_latency_ms
    pods = _pods(spec, namespace)
    found = [
        Alert(
            name="ModelLatencyP99AboveSlo",
            expr=f"{latency_quantile_ms(spec, namespace, 0.99)} > {target_ms:g}",
            for_="10m",
            severity="critical",
            summary=f"{spec.name}: p99 latency above its SLO of {target_ms:g} ms",
        ),
        Alert(
            name="ModelErrorRateAboveSlo",
            expr=f"{server_error_ratio(spec, namespace)} > {spec.slo.error_rate:g}",
            for_="5m",
            severity="critical",
            summary=(
                f"{spec.name}: server errors above its SLO of {spec.slo.error_rate:.3%} of requests"
            ),
        ),
        Alert(
            name="ModelNoReadyReplicas",
            expr=f"{ready_replicas(spec, namespace)} < 1",
            for_="5m",
            severity="critical",
            summary=f"{spec.name}: a serving Deployment has no ready replica",
        ),
        Alert(
            name="ModelContainerOomKilled",
            # A restart in the window whose last termination was an OOM kill: memory is too low.
            expr=(
                f"increase(kube_pod_container_status_restarts_total{{{pods}}}[15m]) > 0 "
                "and on (namespace, pod, container) "
                f'kube_pod_container_status_last_terminated_reason{{{pods}, reason="OOMKilled"}}'
                " == 1"
            ),
            for_="0m",
            severity="warning",
            summary=f"{spec.name}: a serving container was OOM-killed; raise resources.memory",
        ),
    ]
    if spec.uses_gpus:
        found += [
            Alert(
                name="ModelGpuSaturated",
                expr=f"{gpu_utilisation(spec, namespace)} > {GPU_SATURATED_PERCENT}",
                for_=GPU_SATURATED_FOR,
                severity="warning",
                summary=(
                    f"{spec.name}: GPUs busy above {GPU_SATURATED_PERCENT}%; raise "
                    "replicas.max or batching"
                ),
            ),
            Alert(
                name="ModelGpuIdle",
                expr=f"{gpu_utilisation(spec, namespace)} < {GPU_IDLE_PERCENT}",
                for_=GPU_IDLE_FOR,
                severity="info",
                summary=(
                    f"{spec.name}: GPUs busy under {GPU_IDLE_PERCENT}%; the model holds GPUs it "
                    "does not use"
                ),
            ),
        ]
    return found


def rule_group_name(spec: ModelSpec) -> str:
    return f"{spec.name}.slo"


def rule_groups(spec: ModelSpec, namespace: str) -> list[dict[str, Any]]:
    """Prometheus rule groups: the format of a rules file, and of a PrometheusRule's spec."""
    return [
        {
            "name": rule_group_name(spec),
            "rules": [alert.rule(spec) for alert in alerts(spec, namespace)],
        }
    ]


def monitoring_labels(spec: ModelSpec) -> dict[str, str]:
    return {**serving.model_labels(spec), "app.kubernetes.io/component": "model-monitoring"}


def service_monitor(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": serving.metadata(spec, "serving", namespace, monitoring_labels(spec)),
        "spec": {
            "selector": {"matchLabels": {serving.MODEL_LABEL: spec.name}},
            "namespaceSelector": {"matchNames": [namespace]},
            "podTargetLabels": list(POD_TARGET_LABELS),
            "endpoints": [
                {
                    # TF Serving serves its metrics on the REST port, which the model's
                    # NetworkPolicy opens to the platform namespace, where Prometheus runs.
                    "port": "http",
                    "path": serving.METRICS_PATH,
                    "interval": SCRAPE_INTERVAL,
                    "scheme": "http",
                }
            ],
        },
    }


def prometheus_rule(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": serving.metadata(spec, "slo", namespace, monitoring_labels(spec)),
        "spec": {"groups": rule_groups(spec, namespace)},
    }


# Dashboard panels: Grafana's `$__rate_interval` is the window of each rate on screen.
_PANEL_WIDTH = 12
_PANEL_HEIGHT = 8


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    targets: tuple[tuple[str, str], ...]
    """(legend, PromQL) of each series."""
    description: str = ""
    threshold: float | None = None
    """A dashed line at the SLO target."""


def _on_screen(expr: str) -> str:
    return expr.replace(f"[{RATE_WINDOW}]", "[$__rate_interval]")


def panels(spec: ModelSpec, namespace: str) -> list[Panel]:
    legend = "{{" + TRACK + "}}"
    found = [
        Panel(
            "Requests per second by status",
            "reqps",
            (("{{status}}", request_rate(spec, namespace, by="status")),),
        ),
        Panel(
            "Latency percentiles",
            "ms",
            tuple(
                (f"p{round(q * 100)} {legend}", latency_quantile_ms(spec, namespace, q, TRACK))
                for q in (0.5, 0.9, 0.99)
            ),
            description=f"SLO: p99 under {spec.slo.p99_latency_ms:g} ms",
            threshold=spec.slo.p99_latency_ms,
        ),
        Panel(
            "Server error ratio",
            "percentunit",
            (("server errors", server_error_ratio(spec, namespace)),),
            description=f"SLO: under {spec.slo.error_rate:.3%} of requests",
            threshold=spec.slo.error_rate,
        ),
        Panel(
            "Ready replicas",
            "short",
            (("{{deployment}}", ready_replicas(spec, namespace)),),
        ),
    ]
    if spec.uses_gpus:
        pods = _pods(spec, namespace)
        found += [
            Panel(
                "GPU utilisation",
                "percent",
                (("{{pod}}", gpu_utilisation(spec, namespace, by="pod")),),
                threshold=GPU_SATURATED_PERCENT,
            ),
            Panel(
                "GPU memory used",
                "decmbytes",
                (("{{pod}}", f"sum by (pod) ({GPU_MEMORY_USED_MIB}{{{pods}}})"),),
            ),
        ]
    return found


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    thresholds: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if panel.threshold is not None:
        thresholds.append({"color": "red", "value": panel.threshold})
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {
            "h": _PANEL_HEIGHT,
            "w": _PANEL_WIDTH,
            "x": (index % 2) * _PANEL_WIDTH,
            "y": (index // 2) * _PANEL_HEIGHT,
        },
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "thresholds": {"mode": "absolute", "steps": thresholds},
                "custom": {
                    "thresholdsStyle": {"mode": "dashed" if panel.threshold is not None else "off"}
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": _on_screen(expr),
                "legendFormat": legend,
            }
            for n, (legend, expr) in enumerate(panel.targets)
        ],
    }


def dashboard_uid(spec: ModelSpec) -> str:
    # Grafana uids are at most 40 characters; model names are at most 40 (modelspec), so the
    # prefix is cut rather than the name.
    return f"model-{spec.name}"[-40:]


def dashboard(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    """Grafana dashboard JSON (schema version DASHBOARD_SCHEMA_VERSION)."""
    return {
        "uid": dashboard_uid(spec),
        "title": f"Model {spec.name}",
        "description": spec.description,
        "tags": ["gpu-model-platform", "model", spec.name],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": DASHBOARD_SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": [_panel_json(panel, i) for i, panel in enumerate(panels(spec, namespace))],
    }


def dashboard_file(spec: ModelSpec) -> str:
    return f"model-{spec.name}.json"


def dashboard_config_map(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    labels = {**monitoring_labels(spec), DASHBOARD_LABEL: DASHBOARD_LABEL_VALUE}
    return {
        "metadata": serving.metadata(spec, "dashboard", namespace, labels),
        "data": {
            dashboard_file(spec): json.dumps(dashboard(spec, namespace), indent=2, sort_keys=True)
        },
    }


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
        super().__init__("gpu-model-platform:monitoring:ModelMonitoring", name, None, opts)
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
