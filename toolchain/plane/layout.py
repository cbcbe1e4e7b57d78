"""Where one plane lives: its folder of state and the addresses and names it uses.

Every other module of the plane reads these; this one imports nothing else of the plane.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from toolchain.gobuild import PROJECT_ROOT, ToolchainError

DEFAULT_RUNTIME_DIR = PROJECT_ROOT / "build" / "cluster"
CLUSTER_NAME = "gpu-model-platform-local"
# Services get addresses from this range.
SERVICE_CIDR = "10.96.0.0/24"
POD_CIDR = "10.244.0.0/16"
# Every simulated node's InternalIP: KWOK's server, on loopback, answers for all of them.
KWOK_NODE_IP = "127.0.0.1"
# Nodes KWOK manages carry this annotation; nothing else in the cluster is touched by it.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


@dataclass(frozen=True)
class Layout:
    """Where one plane keeps its state. kwokctl keeps the cluster's (certificates, etcd data,
    logs, pid files, its configuration with the ports it chose) below `kwok_workdir`; we keep the
    kubeconfig the local stack points at and the configuration we give kwokctl."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kwokctl_config(self) -> Path:
        return self.root / "kwokctl.yaml"

    @property
    def kwok_workdir(self) -> Path:
        """KWOK_WORKDIR for kwokctl: its clusters live below it."""
        return self.root / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / CLUSTER_NAME

    @property
    def pki(self) -> Path:
        """kwokctl's certificates: ca.crt and the admin client certificate admin.crt/.key."""
        return self.cluster_dir / "pki"

    @property
    def kwokctl_kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    def log_file(self, component: str) -> Path:
        return self.cluster_dir / "logs" / f"{component}.log"

    def api_server(self) -> str:
        """The API server's URL, from kwokctl's kubeconfig (kwokctl chose the port)."""
        text = self.kwokctl_kubeconfig.read_text()
        match = re.search(r"^\s*server:\s*(https://\S+)\s*$", text, re.M)
        if match is None:
            raise ToolchainError(f"no server in {self.kwokctl_kubeconfig}")
        return match.group(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
