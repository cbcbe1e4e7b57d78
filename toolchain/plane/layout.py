"""Where one plane lives: its folder of state, its ports and the addresses and names it uses.

Every other module of the plane reads these; this one imports nothing else of the plane.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from toolchain.gobuild import PROJECT_ROOT

DEFAULT_RUNTIME_DIR = PROJECT_ROOT / "build" / "cluster"
CLUSTER_NAME = "gpu-model-platform-local"
# Services get addresses from this range; the API server's certificate names its first address.
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
# Every simulated node's InternalIP: KWOK's server, on loopback, answers for all of them.
KWOK_NODE_IP = "127.0.0.1"
# Nodes KWOK manages carry this annotation; nothing else in the cluster is touched by it.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


@dataclass(frozen=True)
class Layout:
    """Where one plane keeps its state: certificates, etcd data, logs, pid files, kubeconfig."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    def pid_file(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    metrics_server: int = 0
    """0 in a ports file written before the plane ran metrics-server: chosen then."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plane_ports(layout: Layout) -> Ports:
    """The plane's ports: chosen free once, then kept, so the kubeconfig's server stays the same
    across a restart (the Kubernetes provider of a stack would otherwise see another cluster)."""
    if layout.ports_file.exists():
        kept = Ports(**json.loads(layout.ports_file.read_text()))
        if kept.metrics_server:
            return kept
        taken = set(asdict(kept).values())
        port = next(p for p in iter(free_port, None) if p not in taken)
        ports = Ports(**{**asdict(kept), "metrics_server": port})
        layout.ports_file.write_text(json.dumps(asdict(ports), indent=2) + "\n")
        return ports
    chosen: set[int] = set()
    while len(chosen) < len(fields(Ports)):
        chosen.add(free_port())
    ports = Ports(*sorted(chosen))
    layout.ports_file.write_text(json.dumps(asdict(ports), indent=2) + "\n")
    return ports
