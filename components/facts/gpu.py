"""GPU facts, defined once: the cluster's node groups, the serving stacks and the policies all read
them from here, so a pod's selector and a node group's labels cannot drift apart."""

from __future__ import annotations

from typing import Any, Literal

from components.facts.labels import GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE, GPU_TYPE_LABEL

# The extended resource the NVIDIA device plugin advertises on GPU nodes.
GPU_RESOURCE = "nvidia.com/gpu"

# Every GPU node group carries GPU_NODE_LABEL and GPU_TYPE_LABEL (components.facts.labels); a GPU
# pod requires GPU_TYPE_LABEL to be one of the GPU types its model accepts.

# Every GPU node group is tainted so that only pods that ask for GPUs (and tolerate it) land there.
GPU_TAINT_KEY = GPU_RESOURCE
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"

GpuType = Literal["t4", "a10g", "l4", "l40s", "a100", "h100"]

# The EKS-optimized AMI of GPU node groups: Amazon Linux 2023 with the NVIDIA driver and container
# toolkit. It does not advertise GPUs to Kubernetes: the NVIDIA device plugin does.
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"

# Instance families the platform runs GPU node groups on, and the GPU each carries.
GPU_TYPE_BY_INSTANCE_FAMILY: dict[str, GpuType] = {
    "g4dn": "t4",
    "g5": "a10g",
    "g6": "l4",
    "g6e": "l40s",
    "p4d": "a100",
    "p5": "h100",
}


# EKS managed node groups spell taint effects as enum names, Kubernetes in CamelCase.
EKS_TAINT_EFFECT = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


def gpu_type_of_instance(instance_type: str) -> GpuType:
    """The GPU an instance type carries: 'g5.2xlarge' -> 'a10g'. KeyError for a non-GPU family."""
    return GPU_TYPE_BY_INSTANCE_FAMILY[instance_type.partition(".")[0]]


# GPUs per instance where a size carries more than one; every other size of a GPU family has one.
_MULTI_GPU_SIZES: dict[str, dict[str, int]] = {
    "g4dn": {"12xlarge": 4, "metal": 8},
    "g5": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6e": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p5": {"48xlarge": 8},
}


def gpus_per_instance(instance_type: str) -> int:
    """GPUs one instance carries: 'g5.xlarge' -> 1, 'p4d.24xlarge' -> 8; 0 for a CPU type."""
    family, _, size = instance_type.partition(".")
    if family not in GPU_TYPE_BY_INSTANCE_FAMILY:
        return 0
    return _MULTI_GPU_SIZES.get(family, {}).get(size, 1)


def gpu_node_labels(gpu_type: GpuType) -> dict[str, str]:
    """Labels of a GPU node group (and of the simulated GPU nodes)."""
    return {GPU_NODE_LABEL: GPU_NODE_LABEL_VALUE, GPU_TYPE_LABEL: gpu_type}


def gpu_taint() -> dict[str, str]:
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def gpu_node_group_taint() -> dict[str, str]:
    """gpu_taint() as an EKS managed node group takes it; the nodes then carry gpu_taint()."""
    taint = gpu_taint()
    return {**taint, "effect": EKS_TAINT_EFFECT[taint["effect"]]}


def gpu_toleration() -> dict[str, str]:
    """Tolerates the GPU taint whatever its value, so a change of value does not strand pods."""
    return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}


def gpu_node_affinity(gpu_types: list[GpuType] | None = None) -> dict[str, Any]:
    """Required affinity to GPU nodes: of one of `gpu_types`, or of any GPU type when None (node
    agents such as the NVIDIA device plugin and the DCGM exporter)."""
    expressions: list[dict[str, Any]] = [
        {"key": GPU_NODE_LABEL, "operator": "In", "values": [GPU_NODE_LABEL_VALUE]}
    ]
    if gpu_types is not None:
        expressions.append({"key": GPU_TYPE_LABEL, "operator": "In", "values": list(gpu_types)})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }


# Keys of a node agent chart's values that gpu_node_agent_placement() owns.
PLACEMENT_KEYS = ("affinity", "nodeSelector", "tolerations")


def gpu_node_agent_placement() -> dict[str, Any]:
    """Chart values placing a node agent on every GPU node, whatever its GPU type, tolerating the
    GPU taint. Replaces charts' default affinities, which ask for Node Feature Discovery labels
    our nodes do not carry."""
    return {"affinity": gpu_node_affinity(), "tolerations": [gpu_toleration()]}
