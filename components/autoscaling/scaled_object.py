"""Pure builders of a model's KEDA ScaledObjects, one per track, as plain dicts.

Each scales its track's Deployment between the track's replica bounds (the canary split of
components.catalog.spec), on a Prometheus query over the series the model's ServiceMonitor
scrapes (components.monitoring.scrape): TF Serving's request rate, or DCGM's GPU utilisation of
the track's pods. `AverageValue` makes KEDA's HPA divide the query by the replica count, so
`autoscaling.target` is per replica.
"""

from __future__ import annotations

from typing import Any

from components.catalog.spec import ModelSpec
from components.monitoring import queries
from components.monitoring.scrape import GPU_UTIL, REQUEST_COUNT, TRACK
from components.serving import builders as serving
from components.serving.builders import Track

API_VERSION = "keda.sh/v1alpha1"
KIND = "ScaledObject"
# The kube-prometheus-stack Prometheus (the Helm release is named after the chart, and the chart
# names its Service `<release>-prometheus`), in the platform namespace.
IN_CLUSTER_PROMETHEUS = "http://kube-prometheus-stack-prometheus.{namespace}.svc:9090"
# The models' series are scraped every 30 s (scrape.SCRAPE_INTERVAL): a rate needs two samples,
# and a window much longer than that makes the autoscaler late.
SCALING_WINDOW = "2m"
# How often KEDA queries Prometheus; half the scrape interval, so a new sample is seen soon.
POLLING_INTERVAL_SECONDS = 15
# How long a model scaled to zero keeps its last pod after the wake signal drops (KEDA's
# default): a GPU pod is minutes away, so brief lulls must not cost a cold start.
COOLDOWN_SECONDS = 300
TRIGGER_NAMES = {"requests": "request-rate", "gpu": "gpu-utilisation"}
WAKE_TRIGGER = "wake"


def prometheus_address(configured: str, platform_namespace: str) -> str:
    """Where the triggers query: the configured URL, else the platform's own Prometheus."""
    return configured or IN_CLUSTER_PROMETHEUS.format(namespace=platform_namespace)


def trigger_query(spec: ModelSpec, track: Track, namespace: str) -> str:
    """The track's load as one number: its request rate, or the GPU utilisation summed over its
    pods (per GPU, so a pod with two GPUs counts as one replica)."""
    metric = spec.autoscaling.metric
    if metric == "requests":
        selector = f'{queries.series_selector(spec, namespace)}, {TRACK}="{track.name}"'
        return f"sum(rate({REQUEST_COUNT}{{{selector}}}[{SCALING_WINDOW}]))"
    if metric == "gpu":
        deployment = serving.object_name(spec, track.name)
        pods = f'namespace="{namespace}", pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+"'
        return f"sum({GPU_UTIL}{{{pods}}}) / {spec.resources.gpus}"
    raise ValueError(f"{spec.name}: metric {metric} does not scale through KEDA")


def _number(value: float) -> str:
    # KEDA reads trigger metadata as strings.
    return f"{value:g}"


def triggers(
    spec: ModelSpec, track: Track, namespace: str, prometheus: str
) -> list[dict[str, Any]]:
    scaling = spec.autoscaling
    found = [
        {
            "type": "prometheus",
            "name": TRIGGER_NAMES[scaling.metric],
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": prometheus,
                "query": trigger_query(spec, track, namespace),
                "threshold": _number(scaling.target),
            },
        }
    ]
    if scaling.activation is not None:
        # At zero replicas the track's own series are gone; this one says there is demand.
        wake = _number(scaling.activation.threshold)
        found.append(
            {
                "type": "prometheus",
                "name": WAKE_TRIGGER,
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": prometheus,
                    "query": scaling.activation.query,
                    "threshold": wake,
                    "activationThreshold": wake,
                },
            }
        )
    return found


def scaled_object(spec: ModelSpec, track: Track, namespace: str, prometheus: str) -> dict[str, Any]:
    """The track's ScaledObject: KEDA creates and owns the HPA of the track's Deployment."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": serving.metadata(
            spec, track.name, namespace, serving.track_labels(spec, track)
        ),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": serving.object_name(spec, track.name),
            },
            "minReplicaCount": track.replicas.min,
            "maxReplicaCount": track.replicas.max,
            "pollingInterval": POLLING_INTERVAL_SECONDS,
            "triggers": triggers(spec, track, namespace, prometheus),
        },
    }
    if spec.scales_to_zero:
        body["spec"]["cooldownPeriod"] = COOLDOWN_SECONDS
    return body
