from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components.gpu import GPU_RESOURCE
from policies.kube import containers, object_name, pod_spec
from policies.support import Rule


def gpus_per_pod(pod: Mapping[str, Any]) -> int:
    return sum(
        int((c.get("resources", {}).get("limits") or {}).get(GPU_RESOURCE, 0))
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
        elif GPU_RESOURCE in requests and str(requests[GPU_RESOURCE]) != str(limits[GPU_RESOURCE]):
            problems.append(
                f"{where}: {GPU_RESOURCE} request {requests[GPU_RESOURCE]} differs from its "
                f"limit {limits[GPU_RESOURCE]}"
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
            "default": 1,
            "description": "GPUs one pod may ask for",
        },
    },
    check=check,
)
