"""One model's Grafana dashboard, as JSON in a ConfigMap that Grafana's dashboard sidecar loads:
request rate, latency percentiles, server errors, ready replicas, and for GPU models the GPU use
and memory of its pods. Its queries are the alerts' (components.monitoring.queries); the tests
check the JSON against Grafana's dashboard schema and every query with promtool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.catalog.spec import ModelSpec
from components.facts import labels
from components.monitoring.alerts import GPU_SATURATED_PERCENT
from components.monitoring.queries import (
    RATE_WINDOW,
    gpu_memory_used_mib,
    gpu_utilisation,
    latency_quantile_ms,
    ready_replicas,
    request_rate,
    server_error_ratio,
)
from components.monitoring.scrape import TRACK, monitoring_labels
from components.serving import builders as serving

DASHBOARD_SCHEMA_VERSION = 39  # Grafana 11's dashboard schema

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
                (("{{pod}}", gpu_memory_used_mib(spec, namespace)),),
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
    # The label and value Grafana's dashboard sidecar looks for (kube-prometheus-stack's defaults,
    # searching every namespace).
    dashboard_labels = {
        **monitoring_labels(spec),
        labels.DASHBOARD_LABEL: labels.DASHBOARD_LABEL_VALUE,
    }
    # Compact JSON: Grafana shows the dashboard, nobody reads the ConfigMap, and the engine keeps
    # its text three times in state (inputs, outputs and outputs' inputs) and rewrites the state
    # after every step: the dashboard is a third of a model's state, and indenting its JSON made
    # it 7.6 KB instead of 4.6 (docs/fleet-scale.md).
    text = json.dumps(dashboard(spec, namespace), separators=(",", ":"), sort_keys=True)
    return {
        "metadata": serving.metadata(spec, "dashboard", namespace, dashboard_labels),
        "data": {dashboard_file(spec): text},
    }
