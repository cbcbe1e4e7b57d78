"""The node agents' namespace, named once: the namespaces component creates it, and the node
agents (node-exporter and the DCGM exporter of the monitoring stack, the NVIDIA device plugin on
dev and prod) are deployed into it.

Node agents read or serve the node itself: node-exporter uses the host's network and PID
namespaces and mounts / read-only (node CPU, memory, disk, network series); the DCGM exporter
mounts the kubelet's pod-resources socket (which pod holds which GPU) and runs as root with
SYS_ADMIN for DCGM's profiling counters; the device plugin mounts the kubelet's device-plugins
directory to register its socket there (without it, EKS GPU nodes advertise no `nvidia.com/gpu`).
Host namespaces and hostPath volumes are refused even by the baseline standard, so they get a
namespace of their own under privileged, where only these DaemonSets run; the platform and models
namespaces stay restricted.
"""

from __future__ import annotations

NODE_AGENTS_NAMESPACE = "node-agents"
NODE_AGENTS_POD_SECURITY_LEVEL = "privileged"
