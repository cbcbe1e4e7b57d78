from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import object_name, pod_spec
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None or resource_type.startswith("kubernetes:batch/"):
        return []
    return [
        f"{object_name(props)}/{container.get('name')}: no {probe}"
        for container in pod.get("containers") or []
        for probe in ("readinessProbe", "livenessProbe")
        if probe not in container
    ]


RULE = Rule(
    name="probes",
    description="Long-running containers have readiness and liveness probes: every kind with a "
    "pod template except Jobs and CronJobs, which run to completion.",
    why="Without readiness a rollout sends traffic to a model that has not loaded; without "
    "liveness a hung server keeps its place.",
    severity=Severity.MEDIUM,
    remediation="ModelService probes TF Serving's /v1/models/<name>; keep those probes.",
    config={},
    check=check,
)
