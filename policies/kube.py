"""Reading Kubernetes objects as the policy engine hands them over (camelCase)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# Resource types whose objects carry a pod template, and where it sits.
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return None
    pod = dig(props, *path)
    return pod if isinstance(pod, Mapping) else {}


def containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from pod.get(key) or []


def object_name(props: Mapping[str, Any]) -> str:
    return str(dig(props, "metadata", "name") or "(unnamed)")


_CPU = re.compile(r"^([0-9.]+)(m?)$")
_MEMORY = re.compile(r"^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T|)$")
_MEMORY_FACTORS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def millicores(quantity: Any) -> float | None:
    match = _CPU.match(str(quantity))
    if not match:
        return None
    value = float(match.group(1))
    return value if match.group(2) else value * 1000


def memory_bytes(quantity: Any) -> float | None:
    match = _MEMORY.match(str(quantity))
    if not match:
        return None
    return float(match.group(1)) * _MEMORY_FACTORS[match.group(2)]
