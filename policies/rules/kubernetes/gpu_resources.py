from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components.facts.gpu import GPU_RESOURCE
from policies.kube import containers, number, object_name, pod_spec, shown
from policies.support import Rule


def gpus_per_pod(pod: Mapping[str, Any]) -> int:
    # Init containers run before the others and release their GPUs, so only regular ones add up.
    return sum(
        int(number((c.get("resources", {}).get("limits") or {}).get(GPU_RESOURCE, 0)) or 0)
        for c in pod.get("containers") or []
    )


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    problems = []
    for container in containers(pod):
        where = f"{object_name(props)}/{container.get('name')}"
        requests = container.get("resources", {}).get("requests") or {}
        limits = container.get("resources", {}).get("limits") or {}
        if GPU_RESOURCE in requests and GPU_RESOURCE not in limits:
            problems.append(f"{where}: requests {GPU_RESOURCE} without a limit")
        elif GPU_RESOURCE in requests and number(requests[GPU_RESOURCE]) != number(
            limits[GPU_RESOURCE]
        ):
            # Compared as numbers: 1, "1" and the engine's 1.0 are the same request.
            problems.append(
                f"{where}: {GPU_RESOURCE} request {shown(requests[GPU_RESOURCE])} differs from "
                f"its limit {shown(limits[GPU_RESOURCE])}"
            )
    total = gpus_per_pod(pod)
    if total > config["maxGpusPerPod"]:
        problems.append(
            f"{object_name(props)}: {total} GPUs per pod, more than {config['maxGpusPerPod']}"
        )
    return problems


RULE = Rule(
    name="gpu-resources",
    description=f"GPUs are asked for as {GPU_RESOURCE} limits (requests equal), within a cap.",
    why="GPUs cannot be shared or overcommitted; a pod asking for many blocks whole nodes.",
    severity=Severity.HIGH,
    remediation="Set resources.gpus in model.yaml within the stack's maxGpusPerPod.",
    config={
        "maxGpusPerPod": {
            "type": "integer",
            "minimum": 0,
            "default": 1,
            "description": "GPUs one pod may ask for",
        },
    },
    check=check,
)
