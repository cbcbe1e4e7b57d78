"""Reading Kubernetes objects as the policy engine hands them over (camelCase)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any


def resource_id(resource_type: str, props: Mapping[str, Any]) -> str:
    """How an exemption, and the policy report, name an object: `Kind namespace/name`, or `Kind
    name` if cluster-wide. Here rather than in policies.support so that the commands naming
    objects on every `make preview` (commands/policy_report.py) need not import pulumi_policy."""
    kind = resource_type.rsplit(":", 1)[-1]
    metadata = props.get("metadata") if isinstance(props, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name, namespace = metadata.get("name") or "(unnamed)", metadata.get("namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


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


HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
# KEDA's defaults for a ScaledObject that leaves its bounds out (keda.sh/v1alpha1).
KEDA_DEFAULT_MIN_REPLICAS = 0
KEDA_DEFAULT_MAX_REPLICAS = 100


def autoscaler_bounds(resource_type: str, props: Mapping[str, Any]) -> tuple[int, int] | None:
    """(min, max) replicas of an HPA or a KEDA ScaledObject, with each kind's defaults; None for
    anything else."""
    if resource_type == HPA:
        return int(dig(props, "spec", "minReplicas") or 1), int(
            dig(props, "spec", "maxReplicas") or 0
        )
    if resource_type == SCALED_OBJECT:
        low = dig(props, "spec", "minReplicaCount")
        high = dig(props, "spec", "maxReplicaCount")
        return (
            KEDA_DEFAULT_MIN_REPLICAS if low is None else int(low),
            KEDA_DEFAULT_MAX_REPLICAS if high is None else int(high),
        )
    return None


def autoscaler_target(props: Mapping[str, Any]) -> str:
    """The name of the workload an HPA or ScaledObject scales (both use scaleTargetRef)."""
    return str((dig(props, "spec", "scaleTargetRef") or {}).get("name"))


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


# Every list of containers a pod spec may hold. Ephemeral containers (`kubectl debug`) carry no
# resources or probes, but they do run images with security contexts.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def containers(
    pod: Mapping[str, Any], kinds: tuple[str, ...] = ("initContainers", "containers")
) -> Iterator[Mapping[str, Any]]:
    for key in kinds:
        yield from pod.get(key) or []


def all_containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init, regular and ephemeral containers: what security and image rules look at."""
    return containers(pod, CONTAINER_LISTS)


def number(value: Any) -> float | None:
    """A number as the engine may deliver it: 3, 3.0 (every number crosses the engine as a
    float) or "3"; None for anything else, a percentage included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def shown(value: Any) -> str:
    """A value for a message, the same whether it arrived as 3 or as the engine's 3.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
    match = _CPU.match(shown(quantity))
    if not match:
        return None
    value = float(match.group(1))
    return value if match.group(2) else value * 1000


def memory_bytes(quantity: Any) -> float | None:
    match = _MEMORY.match(shown(quantity))
    if not match:
        return None
    return float(match.group(1)) * _MEMORY_FACTORS[match.group(2)]
