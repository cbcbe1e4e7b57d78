"""One model's SLO alerts and the PrometheusRule that carries them, as plain dicts: the
thresholds come from the model's spec (latency, errors) or are the platform's (GPU use); every
expression is checked by promtool in the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.catalog.spec import ModelSpec
from components.monitoring.queries import (
    RATE_WINDOW,
    gpu_utilisation,
    latency_quantile_ms,
    pod_selector,
    ready_replicas,
    server_error_ratio,
)
from components.monitoring.scrape import monitoring_labels
from components.serving import builders as serving

# Percent of GPU time busy, averaged over the model's GPUs: above SATURATED for SATURATED_FOR the
# model needs more replicas (or a bigger GPU); below IDLE for IDLE_FOR it holds GPUs it does not
# use, which other models are waiting for.
GPU_SATURATED_PERCENT = 90
GPU_SATURATED_FOR = "15m"
GPU_IDLE_PERCENT = 5
GPU_IDLE_FOR = "1h"


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


@dataclass(frozen=True)
class SloMeasure:
    """One SLO of the spec as PromQL: the SLO is broken when `expr` is above `threshold`. The
    alerts compare it over RATE_WINDOW for both tracks; the canary analysis per track over its
    window (commands/analyze.py)."""

    expr: str
    threshold: float


@dataclass(frozen=True)
class SloMeasures:
    p99_latency_ms: SloMeasure
    error_rate: SloMeasure


def slo_measures(
    spec: ModelSpec,
    namespace: str,
    track: serving.TrackName | None = None,
    window: str = RATE_WINDOW,
) -> SloMeasures:
    return SloMeasures(
        p99_latency_ms=SloMeasure(
            latency_quantile_ms(spec, namespace, 0.99, track=track, window=window),
            spec.slo.p99_latency_ms,
        ),
        error_rate=SloMeasure(
            server_error_ratio(spec, namespace, track=track, window=window), spec.slo.error_rate
        ),
    )


def alerts(spec: ModelSpec, namespace: str) -> list[Alert]:
    """The model's SLO alerts; the GPU ones only for a model that asks for GPUs."""
    target_ms = spec.slo.p99_latency_ms
    pods = pod_selector(spec, namespace)
    slo = slo_measures(spec, namespace)
    found = [
        Alert(
            name="ModelLatencyP99AboveSlo",
            expr=f"{slo.p99_latency_ms.expr} > {slo.p99_latency_ms.threshold:g}",
            for_="10m",
            severity="critical",
            summary=f"{spec.name}: p99 latency above its SLO of {target_ms:g} ms",
        ),
        Alert(
            name="ModelErrorRateAboveSlo",
            expr=f"{slo.error_rate.expr} > {slo.error_rate.threshold:g}",
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


def prometheus_rule(spec: ModelSpec, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": serving.metadata(spec, "slo", namespace, monitoring_labels(spec)),
        "spec": {"groups": rule_groups(spec, namespace)},
    }
