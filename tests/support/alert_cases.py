"""`promtool test rules` files generated from a model's spec: for each of its alerts, series just
above its threshold (it must fire once its `for:` window has passed, and not before, with the
model's labels and annotations) and just below (it must stay silent).

The thresholds come from the model.yaml (its SLOs) and the windows and platform thresholds from
what the README promises (EXPECTED below), never from components/monitoring/alerts.py: a rule
changed without its spec, or a threshold off by one, fails the test it generates.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.catalog.spec import ModelSpec
from components.monitoring import scrape
from components.monitoring.alerts import rule_groups
from components.serving import builders as serving
from toolchain.promtool import ensure_promtool

# What each alert promises (README, "Monitoring"): its `for:` window in minutes and severity; the
# GPU ones with the platform's thresholds (percent of GPU time busy).
EXPECTED = {
    "ModelLatencyP99AboveSlo": (10, "critical"),
    "ModelErrorRateAboveSlo": (5, "critical"),
    "ModelNoReadyReplicas": (5, "critical"),
    "ModelContainerOomKilled": (0, "warning"),
    "ModelGpuSaturated": (15, "warning"),
    "ModelGpuIdle": (60, "info"),
}
GPU_SATURATED_PERCENT = 90
GPU_IDLE_PERCENT = 5
# Series are scraped every minute; rate() over 5m has its two samples from the first minute on.
INTERVAL_MINUTES = 1
REQUESTS_PER_MINUTE = 6000


@dataclass(frozen=True)
class Case:
    """One alert's test: series that break (or keep) its threshold, and what must fire then."""

    alert: str
    breaks: bool
    series: list[dict[str, str]]
    labels: dict[str, str] = field(default_factory=dict)
    """Labels the firing alert keeps from its series, beyond severity, model and owner."""
    first_true: int = 0
    """The minute the expression first holds: gauges at once, rate() once it has two samples."""


def _counter(per_minute: float, minutes: int) -> str:
    return f"0+{per_minute:g}x{minutes}"


def _gauge(value: float, minutes: int) -> str:
    return f"{value:g}x{minutes}"


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{metric}{{{selector}}}", "values": values}


def _pod(spec: ModelSpec) -> str:
    return f"{serving.object_name(spec, 'stable')}-5d8f9c7b6-x2x4q"


def cases(spec: ModelSpec, namespace: str, minutes: int) -> list[Case]:
    """Above and below each threshold of the model's alerts."""
    scraped = {
        "namespace": namespace,
        "service": serving.object_name(spec, "serving"),
        "model_name": spec.name,
    }
    pod = {"namespace": namespace, "pod": _pod(spec), "container": "tfserving"}
    found: list[Case] = []
    for breaks in (True, False):
        # p99 latency half a millisecond above or below the SLO: every request in the bucket
        # (0, high], so histogram_quantile interpolates p99 to 0.99 * high.
        p99_ms = spec.slo.p99_latency_ms + (0.5 if breaks else -0.5)
        high_us = p99_ms * 1000 / 0.99
        latency = [
            _series(
                scrape.REQUEST_LATENCY_BUCKET,
                {**scraped, "le": le},
                _counter(0 if le == "0" else REQUESTS_PER_MINUTE, minutes),
            )
            for le in ("0", f"{high_us:.6f}", "+Inf")
        ]
        found.append(Case("ModelLatencyP99AboveSlo", breaks, latency, first_true=INTERVAL_MINUTES))
        # Server errors 10% above or below the SLO's share of requests.
        errors = REQUESTS_PER_MINUTE * spec.slo.error_rate * (1.1 if breaks else 0.9)
        requests = [
            _series(
                scrape.REQUEST_COUNT,
                {**scraped, "status": "OK"},
                _counter(REQUESTS_PER_MINUTE - errors, minutes),
            ),
            _series(
                scrape.REQUEST_COUNT,
                {**scraped, "status": "INTERNAL"},
                _counter(errors, minutes),
            ),
        ]
        found.append(Case("ModelErrorRateAboveSlo", breaks, requests, first_true=INTERVAL_MINUTES))
        stable = serving.object_name(spec, "stable")
        ready = [
            _series(
                "kube_deployment_status_replicas_ready",
                {"namespace": namespace, "deployment": stable},
                _gauge(0 if breaks else 1, minutes),
            )
        ]
        found.append(Case("ModelNoReadyReplicas", breaks, ready, {"deployment": stable}))
        # One restart in the window; its last termination an OOM kill, or another reason.
        oom = [
            _series("kube_pod_container_status_restarts_total", pod, f"0x2 1x{minutes - 2}"),
            _series(
                "kube_pod_container_status_last_terminated_reason",
                {**pod, "reason": "OOMKilled" if breaks else "Error"},
                _gauge(1, minutes),
            ),
        ]
        # The restart shows at minute 2.
        found.append(Case("ModelContainerOomKilled", breaks, oom, dict(pod), first_true=2))
        if spec.uses_gpus:
            # DCGM-shaped: the exporter's own labels, and the pod's (honorLabels keeps them).
            gpu = {
                "gpu": "0",
                "UUID": "GPU-0f3c",
                "modelName": "NVIDIA A10G",
                "Hostname": "gpu-node-1",
                **pod,
            }
            saturated = GPU_SATURATED_PERCENT + (0.5 if breaks else -0.5)
            found.append(
                Case(
                    "ModelGpuSaturated",
                    breaks,
                    [_series(scrape.GPU_UTIL, gpu, _gauge(saturated, minutes))],
                )
            )
            idle = GPU_IDLE_PERCENT + (-0.5 if breaks else 0.5)
            found.append(
                Case("ModelGpuIdle", breaks, [_series(scrape.GPU_UTIL, gpu, _gauge(idle, minutes))])
            )
    return found


def expected_annotations(
    spec: ModelSpec, alert: str, groups: list[dict[str, Any]]
) -> dict[str, str]:
    """The summary the rule carries (its wording is the rule's) and the spec's description."""
    (rule,) = [r for g in groups for r in g["rules"] if r["alert"] == alert]
    return {"summary": rule["annotations"]["summary"], "description": spec.description}


def test_file(
    spec: ModelSpec, namespace: str, rules_file: str, groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """A promtool test file: one test per case, evaluated just before and just after the alert's
    `for:` window (plus the minute rate() needs)."""
    tests = []
    for case in cases(spec, namespace, minutes=max(w for w, _ in EXPECTED.values()) + 10):
        window, severity = EXPECTED[case.alert]
        labels = {"severity": severity, "model": spec.name, "owner": spec.owner, **case.labels}
        # It fires `window` minutes after the expression first holds.
        first_true = case.first_true
        after = first_true + window + 1
        evaluations = [
            {
                "eval_time": f"{after}m",
                "alertname": case.alert,
                "exp_alerts": (
                    [
                        {
                            "exp_labels": labels,
                            "exp_annotations": expected_annotations(spec, case.alert, groups),
                        }
                    ]
                    if case.breaks
                    else []
                ),
            }
        ]
        if case.breaks and window:
            # Still pending a minute before its window ends: `for:` is not shorter than promised.
            evaluations.append(
                {
                    "eval_time": f"{first_true + window - 1}m",
                    "alertname": case.alert,
                    "exp_alerts": [],
                }
            )
        tests.append(
            {
                "name": f"{spec.name} {case.alert} {'above' if case.breaks else 'below'} threshold",
                "interval": f"{INTERVAL_MINUTES}m",
                "input_series": case.series,
                "alert_rule_test": evaluations,
            }
        )
    return {"rule_files": [rules_file], "evaluation_interval": "1m", "tests": tests}


def promtool_test_rules(
    spec: ModelSpec, namespace: str, workdir: Path, groups: list[dict[str, Any]] | None = None
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Runs `promtool test rules` on the model's rules (or `groups`, e.g. a mutated copy) and
    the tests its spec generates; returns the result and the number of test cases."""
    groups = rule_groups(spec, namespace) if groups is None else groups
    rules = workdir / f"{spec.name}-rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    tests = test_file(spec, namespace, rules.name, rule_groups(spec, namespace))
    test_path = workdir / f"{spec.name}-tests.yaml"
    test_path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [str(ensure_promtool()), "test", "rules", test_path.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, len(tests["tests"])
