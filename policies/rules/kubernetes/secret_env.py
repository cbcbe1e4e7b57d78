from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import all_containers, dig, object_name, pod_spec
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    problems = []
    for container in all_containers(pod):
        where = f"{object_name(props)}/{container.get('name')}"
        problems += [
            f"{where}: env {variable.get('name')} comes from secret "
            f"{dig(variable, 'valueFrom', 'secretKeyRef', 'name')}"
            for variable in container.get("env") or []
            if dig(variable, "valueFrom", "secretKeyRef") is not None
        ]
        problems += [
            f"{where}: takes every key of secret {dig(source, 'secretRef', 'name')} as env"
            for source in container.get("envFrom") or []
            if source.get("secretRef") is not None
        ]
    return problems


RULE = Rule(
    name="secret-env",
    description="Secrets reach containers as mounted files, never as environment variables; "
    "applies to every kind with a pod template.",
    why="Environment variables leak: into crash dumps, `kubectl describe`, child processes and "
    "the logs of a model server that prints its config; a mounted secret can also rotate.",
    severity=Severity.MEDIUM,
    remediation="Mount the secret as a volume (secret or projected) and read it from the file.",
    config={},
    check=check,
)
