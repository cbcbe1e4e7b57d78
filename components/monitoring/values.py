"""Pure builders of the monitoring charts' values: the values files beside this module, with the
keys the code owns (retention, resources, Alertmanager routes, Grafana's admin Secret, GPU
placement) filled in from stack config and the GPU facts. No Pulumi here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.facts.gpu import PLACEMENT_KEYS, gpu_node_agent_placement
from components.facts.mirrors import CHART_IMAGES, cached_image_values
from components.facts.versions import ChartPin
from components.settings.charts import load_values, merge_values
from components.settings.monitoring import AlertRoute, PrometheusResources

KUBE_PROMETHEUS_STACK_CHART = "kube-prometheus-stack"
PROMETHEUS_STACK_VALUES = Path(__file__).with_name("kube-prometheus-stack-values.yaml")
DCGM_EXPORTER_VALUES = Path(__file__).with_name("dcgm-exporter-values.yaml")
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
    # On dev and prod every image's registry is the stack's pull-through cache.
    *((*path.split("."), "registry") for path, _ in CHART_IMAGES[KUBE_PROMETHEUS_STACK_CHART]),
)
OWNER = "components/monitoring/values.py sets it"


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
    node_agents_namespace: str,
    image_registry: str | None = None,
    values_file: Path = PROMETHEUS_STACK_VALUES,
) -> dict[str, Any]:
    """`image_registry`: the ECR registry whose pull-through cache serves every image (dev and
    prod); None keeps the charts' upstream registries (local)."""
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
        "prometheus-node-exporter": {"namespaceOverride": node_agents_namespace},
    }
    if image_registry is not None:
        owned = merge_values(
            owned, cached_image_values(KUBE_PROMETHEUS_STACK_CHART, image_registry)
        )
    return merge_values(load_values(values_file, PROMETHEUS_STACK_OWNED, OWNER), owned)


def dcgm_exporter_values(values_file: Path = DCGM_EXPORTER_VALUES) -> dict[str, Any]:
    """GPU nodes only, whatever their GPU type, tolerating the GPU taint (components.facts.gpu)."""
    owned = tuple((key,) for key in PLACEMENT_KEYS)
    return {**load_values(values_file, owned, OWNER), **gpu_node_agent_placement()}


def grafana_admin_out_of_band(namespace: str, secret: str) -> str:
    return (
        f"monitoring: rendering manifests, so Grafana's admin Secret {namespace}/{secret} is not "
        "rendered (its password would sit in plain text in the files); create it before applying "
        f"them: kubectl create secret generic {secret} -n {namespace} "
        f"--from-literal=admin-user={GRAFANA_ADMIN_USER} "
        '--from-literal=admin-password="$(openssl rand -hex 16)"'
    )


def skipped_warning(pin: ChartPin, key: str) -> str:
    return (
        f"monitoring: {key} is not set and chartsDirectory holds no {pin.name} chart, so the "
        f"{pin.name} chart ({pin.version}) is skipped; set {key} to {pin.repository} or to a "
        f"directory holding the chart (`pulumi config set {key} ...`), or unpack the chart into "
        "chartsDirectory. Each model's ServiceMonitor, PrometheusRule and dashboard are still "
        "registered."
    )
