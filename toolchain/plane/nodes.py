"""What the plane puts into its cluster at start: simulated nodes, KWOK's stages and the usage
KWOK simulates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from components.facts.gpu import (
    GPU_RESOURCE,
    gpu_node_labels,
    gpu_taint,
    gpu_type_of_instance,
    gpus_per_instance,
)
from toolchain.gobuild import ToolchainError
from toolchain.plane.api import Api
from toolchain.plane.layout import KWOK_NODE_ANNOTATION

STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
METRICS_FILE = Path(__file__).with_name("kwok-metrics.yaml")
# Where metrics-server reads a node's usage: KWOK serves each node's Metric on its own path.
RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
# Registered by kwokctl, which runs metrics-server (processes.py).
METRICS_API = "v1beta1.metrics.k8s.io"
# The simulated node groups: what `components/aws/node_groups.py` would make on EKS.
CPU_INSTANCE_TYPE = "m6i.2xlarge"
GPU_INSTANCE_TYPE = "g5.2xlarge"
ZONES = ("local-a", "local-b")


def node(name: str, zone: str, instance_type: str) -> dict[str, Any]:
    """A simulated node as EKS would register it: GPU nodes with the GPU node group's labels and
    taint and the GPUs the NVIDIA device plugin would advertise (components/facts/gpu.py)."""
    gpus = gpus_per_instance(instance_type)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "type": "kwok",
    }
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    spec: dict[str, Any] = {}
    if gpus:
        labels |= gpu_node_labels(gpu_type_of_instance(instance_type))
        capacity[GPU_RESOURCE] = str(gpus)
        spec["taints"] = [gpu_taint()]
    key, value = KWOK_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                key: value,
                RESOURCE_METRICS_PATH_ANNOTATION: f"/metrics/nodes/{name}/metrics/resource",
            },
        },
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def plane_nodes(cpu_nodes: int, gpu_nodes: int) -> list[dict[str, Any]]:
    return [
        node(f"cpu-{i}", ZONES[i % len(ZONES)], CPU_INSTANCE_TYPE) for i in range(cpu_nodes)
    ] + [node(f"gpu-{i}", ZONES[i % len(ZONES)], GPU_INSTANCE_TYPE) for i in range(gpu_nodes)]


def yaml_documents(text: str) -> list[str]:
    return [doc for doc in re.split(r"^---\s*$", text, flags=re.M) if doc.strip()]


def yaml_name(document: str) -> str:
    """metadata.name of a plain YAML object (no YAML parser in the standard library)."""
    match = re.search(
        r"^metadata:\s*\n(?:[ \t]+.*\n)*?[ \t]+name:\s*['\"]?([\w.-]+)", document, re.M
    )
    if match is None:
        raise ToolchainError(f"no metadata.name in:\n{document[:300]}")
    return match.group(1)


def apply_kwok_objects(api: Api, text: str) -> list[str]:
    """Apply cluster-scoped KWOK objects (Metric, ClusterResourceUsage) given as YAML documents."""
    names = []
    for document in yaml_documents(text):
        kind = re.search(r"^kind:\s*(\w+)", document, re.M)
        if kind is None:
            raise ToolchainError(f"no kind in:\n{document[:300]}")
        names.append(yaml_name(document))
        plural = kind.group(1).lower() + "s"
        api.apply(f"/apis/kwok.x-k8s.io/v1alpha1/{plural}/{names[-1]}", document)
    return names


def metrics_available(api: Api) -> bool:
    """The API server reaches metrics-server and the metrics API answers. (A node without pods
    has no usage yet, and metrics-server leaves such nodes out: the list may be empty.)"""
    service = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{METRICS_API}")
    conditions = (service.get("status") or {}).get("conditions") or []
    if not any(c["type"] == "Available" and c["status"] == "True" for c in conditions):
        return False
    return "items" in api.get("/apis/metrics.k8s.io/v1beta1/pods")


def apply_stages(api: Api, text: str) -> list[str]:
    """Apply KWOK Stage objects (YAML documents); returns their names."""
    names = []
    for document in yaml_documents(text):
        names.append(yaml_name(document))
        api.apply(f"/apis/kwok.x-k8s.io/v1alpha1/stages/{names[-1]}", document)
    return names


def nodes_ready(api: Api, expected: int) -> bool:
    items = api.get("/api/v1/nodes")["items"]
    ready = [
        n
        for n in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n["status"].get("conditions", [])
        )
    ]
    return len(ready) >= expected
