"""PromQL over one model's scraped series (components.monitoring.scrape), shared by its alerts and
its dashboard, and by the canary analysis (commands/analyze.py): each function returns an
expression over a RATE_WINDOW, which the dashboard swaps for Grafana's `$__rate_interval` and the
analysis for its own window. `track` narrows the SLO expressions to one track's pods (the label
the ServiceMonitor copies from the pods, scrape.TRACK); the alerts judge both tracks together."""

from __future__ import annotations

from typing import get_args

from components.catalog.spec import ModelSpec
from components.monitoring.scrape import (
    GPU_MEMORY_USED_MIB,
    GPU_UTIL,
    REQUEST_COUNT,
    REQUEST_LATENCY_BUCKET,
    SERVER_ERROR_CODES,
    TRACK,
)
from components.serving import builders as serving

RATE_WINDOW = "5m"
MICROSECONDS_PER_MS = 1000


def series_selector(spec: ModelSpec, namespace: str, track: serving.TrackName | None = None) -> str:
    """Series of this model's serving pods, as scraped through its ServiceMonitor; of one track's
    pods when `track` is given."""
    service = serving.object_name(spec, "serving")
    selector = f'namespace="{namespace}", service="{service}", model_name="{spec.name}"'
    return selector + (f', {TRACK}="{track}"' if track else "")


def deployment_names(spec: ModelSpec) -> list[str]:
    """Both tracks' Deployments, whether or not the spec has a canary now: starting or ending a
    canary then changes no monitoring object, and a track without pods has no series."""
    return [serving.object_name(spec, track) for track in get_args(serving.TrackName)]


def pod_selector(spec: ModelSpec, namespace: str) -> str:
    """The model's pods by name: `<deployment>-<replicaset hash>-<suffix>`."""
    deployments = "|".join(deployment_names(spec))
    return f'namespace="{namespace}", pod=~"({deployments})-[a-z0-9]+-[a-z0-9]+"'


def request_rate(
    spec: ModelSpec,
    namespace: str,
    by: str = "",
    extra: str = "",
    track: serving.TrackName | None = None,
    window: str = RATE_WINDOW,
) -> str:
    grouping = f" by ({by})" if by else ""
    selector = series_selector(spec, namespace, track)
    return f"sum{grouping} (rate({REQUEST_COUNT}{{{selector}{extra}}}[{window}]))"


def request_count(
    spec: ModelSpec, namespace: str, track: serving.TrackName | None, window: str
) -> str:
    """Requests served in the `window` before the evaluation time (of every status)."""
    selector = series_selector(spec, namespace, track)
    return f"sum (increase({REQUEST_COUNT}{{{selector}}}[{window}]))"


def latency_quantile_ms(
    spec: ModelSpec,
    namespace: str,
    quantile: float,
    by: str = "",
    track: serving.TrackName | None = None,
    window: str = RATE_WINDOW,
) -> str:
    grouping = ", ".join(["le", by]) if by else "le"
    buckets = f"{REQUEST_LATENCY_BUCKET}{{{series_selector(spec, namespace, track)}}}"
    return (
        f"histogram_quantile({quantile}, sum by ({grouping}) (rate({buckets}[{window}])))"
        f" / {MICROSECONDS_PER_MS}"
    )


def server_error_ratio(
    spec: ModelSpec,
    namespace: str,
    track: serving.TrackName | None = None,
    window: str = RATE_WINDOW,
) -> str:
    codes = "|".join(SERVER_ERROR_CODES)
    errors = request_rate(spec, namespace, extra=f', status=~"{codes}"', track=track, window=window)
    return f"{errors} / {request_rate(spec, namespace, track=track, window=window)}"


def ready_replicas(spec: ModelSpec, namespace: str) -> str:
    deployments = "|".join(deployment_names(spec))
    return (
        "max by (deployment) (kube_deployment_status_replicas_ready"
        f'{{namespace="{namespace}", deployment=~"{deployments}"}})'
    )


def gpu_utilisation(spec: ModelSpec, namespace: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"avg{grouping} ({GPU_UTIL}{{{pod_selector(spec, namespace)}}})"


def gpu_memory_used_mib(spec: ModelSpec, namespace: str) -> str:
    return f"sum by (pod) ({GPU_MEMORY_USED_MIB}{{{pod_selector(spec, namespace)}}})"
