from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import containers, memory_bytes, millicores, object_name, pod_spec, shown
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    problems = []
    max_cpu, max_memory = millicores(config["maxCpu"]), memory_bytes(config["maxMemory"])
    for container in containers(pod):
        where = f"{object_name(props)}/{container.get('name')}"
        requests = container.get("resources", {}).get("requests") or {}
        limits = container.get("resources", {}).get("limits") or {}
        for key in ("cpu", "memory"):
            if key not in requests:
                problems.append(f"{where}: no {key} request")
        if "memory" not in limits:
            problems.append(f"{where}: no memory limit")
        for key, parse, ceiling in (
            ("cpu", millicores, max_cpu),
            ("memory", memory_bytes, max_memory),
        ):
            limit = parse(limits[key]) if key in limits else None
            request = parse(requests[key]) if key in requests else None
            if limit is not None and ceiling is not None and limit > ceiling:
                problems.append(
                    f"{where}: {key} limit {shown(limits[key])} is over the ceiling "
                    f"{config['max' + key.title()]}"
                )
            if limit and request and limit / request > config["maxLimitRequestRatio"]:
                problems.append(
                    f"{where}: {key} limit is {limit / request:g}x its request, more than "
                    f"{config['maxLimitRequestRatio']:g}x"
                )
    return problems


RULE = Rule(
    name="container-resources",
    description="Every container sets cpu and memory requests and a memory limit, under ceilings.",
    why=(
        "Requests are what the scheduler packs nodes by and the autoscaler scales on; a memory "
        "limit keeps one model from taking a node's memory from its neighbours."
    ),
    severity=Severity.HIGH,
    remediation="Set resources.cpu and resources.memory in the model's model.yaml.",
    config={
        "maxCpu": {
            "type": "string",
            "default": "16",
            "description": "CPU limit ceiling per container",
        },
        "maxMemory": {
            "type": "string",
            "default": "64Gi",
            "description": "Memory limit ceiling per container",
        },
        "maxLimitRequestRatio": {
            "type": "number",
            "minimum": 1,
            "default": 2,
            "description": "Largest limit/request ratio, for cpu and memory alike",
        },
    },
    check=check,
)
