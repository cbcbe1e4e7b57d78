from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import all_containers, object_name, pod_spec
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    return [
        f"{object_name(props)}/{container.get('name')}: root filesystem is writable"
        for container in all_containers(pod)
        if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True
    ]


RULE = Rule(
    name="read-only-root-filesystem",
    description="Every container (init and ephemeral too) has a read-only root filesystem; "
    "applies to every kind with a pod template.",
    why="Beyond the restricted profile: an attacker in a model server cannot drop tools or alter "
    "the served model on disk; TF Serving needs only its emptyDir scratch space.",
    severity=Severity.HIGH,
    remediation="Keep readOnlyRootFilesystem: true from ModelService; mount an emptyDir where a "
    "process must write.",
    config={},
    check=check,
)
