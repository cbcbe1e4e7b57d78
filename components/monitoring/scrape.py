"""What Prometheus scrapes from a model: the ServiceMonitor on TF Serving's metrics endpoint, the
labels of every monitoring object, and the names of the series the alerts and dashboard read.

Metric facts, from the sources of the versions we pin:
  * TF Serving 2.18 (`tensorflow_serving/servables/tensorflow/util.cc`): the counter
    `/tensorflow/serving/request_count{model_name, status}` (status: a gRPC code name, "OK" on
    success) and the histogram `/tensorflow/serving/request_latency{model_name, API, entrypoint}`
    in MICROSECONDS. Its Prometheus exporter turns `/` into `:`, and counters get no `_total`.
  * DCGM exporter 4.x: `DCGM_FI_DEV_GPU_UTIL` (percent), `DCGM_FI_DEV_FB_USED` (MiB), labelled
    with the `namespace` and `pod` using the GPU (kept by honorLabels, dcgm-exporter-values.yaml).
  * kube-state-metrics: `kube_deployment_status_replicas_ready`, and the restart counter with
    the last termination reason per container, for OOM kills.

TF Serving's own monitoring config, which turns its Prometheus endpoint on, is part of the
serving objects (components.serving.builders.monitoring_config).
"""

from __future__ import annotations

from typing import Any

from components.catalog.spec import ModelSpec
from components.facts import labels
from components.serving import builders as serving

SCRAPE_INTERVAL = "30s"
# Pod labels copied onto every scraped series, so latency and errors split by track and version
# (a canary is judged against the stable track). Prometheus writes them with `_` for `/` and `-`.
POD_TARGET_LABELS = (labels.TRACK_LABEL, labels.VERSION_LABEL)
TRACK = "gpu_model_platform_track"

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY_BUCKET = ":tensorflow:serving:request_latency_bucket"
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


def monitoring_labels(spec: ModelSpec) -> dict[str, str]:
    """The labels of each of the model's monitoring objects."""
    return {**serving.model_labels(spec), labels.COMPONENT: "model-monitoring"}


def service_monitor(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": serving.metadata(spec, "serving", namespace, monitoring_labels(spec)),
        "spec": {
            "selector": {"matchLabels": {labels.MODEL_LABEL: spec.name}},
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
