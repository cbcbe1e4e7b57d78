#!/usr/bin/env python3
"""A real Kubernetes control plane on loopback, with simulated CPU and GPU nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real programs, built from
their Go modules at the versions pinned below; KWOK simulates the nodes (and makes the pods the
scheduler binds to them Running and Ready), so no container runtime is needed. Everything listens
on 127.0.0.1 only. Binaries are cached outside the clone, like the Pulumi toolchain.

Usage:
  tools/cluster.py build                 build or reuse the binaries
  tools/cluster.py up [--dir D]          build if needed, start, write D/kubeconfig
  tools/cluster.py down [--dir D]        stop every process started by `up`
  tools/cluster.py status [--dir D]      exit 1 unless the plane in D is up
  tools/cluster.py kubeconfig [--dir D]  print the kubeconfig path

Only the standard library is used, like tools/toolchain.py.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.gpu import (
    GPU_RESOURCE,
    gpu_node_labels,
    gpu_taint,
    gpu_type_of_instance,
    gpus_per_instance,
)
from tools.toolchain import (
    CACHE_ROOT,
    PROJECT_ROOT,
    GoBinary,
    ToolchainError,
    build_module_binary,
    go_download,
    require_go,
    run,
)

# Kubernetes 1.33, the minor version components/cluster.py targets (a unit test holds them equal).
KUBERNETES_RELEASE = "1.33.13"
# The etcd release Kubernetes 1.33 is tested with (its go.mod requires the 3.5.21 client).
ETCD_VERSION = "v3.5.21"
# etcd's v2 client module numbers its releases v2.3<minor><patch>: v2.305.21 ships with v3.5.21.
ETCD_CLIENT_V2_VERSION = "v2.305.21"
# KWOK built against the Kubernetes 1.33 client libraries.
KWOK_VERSION = "v0.7.0"

# The plane's programs, in their order of start (stopped in reverse).
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def say(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def plane_key() -> str:
    """Names the cache folder: a change of any pinned version builds into a new folder."""
    return f"plane-k8s-{KUBERNETES_RELEASE}_etcd-{ETCD_VERSION[1:]}_kwok-{KWOK_VERSION[1:]}"


def bin_dir() -> Path:
    return CACHE_ROOT / plane_key() / "bin"


def missing_binaries() -> list[str]:
    return [name for name in PROCESSES if not (bin_dir() / name).exists()]


def staging_version(release: str) -> str:
    """k8s.io/kubernetes v1.33.13 publishes its staging modules (k8s.io/api, ...) as v0.33.13."""
    major, minor, patch = release.split(".")
    if major != "1":
        raise ToolchainError(f"unexpected Kubernetes release {release}")
    return f"v0.{minor}.{patch}"


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The modules k8s.io/kubernetes replaces with its own `./staging/...` folders."""
    modules = []
    for line in kubernetes_go_mod.splitlines():
        left, arrow, right = line.partition("=>")
        if arrow and right.strip().startswith("./staging/"):
            modules.append(left.split()[-1] if " " in left.strip() else left.strip())
    return modules


# Staging modules k8s.io/kubernetes requires only for its own examples and tests. No package of
# theirs goes into the binaries, and the module proxy reachable here does not serve them at every
# release, so each is replaced by an empty local module that merely completes the module graph.
UNBUILT_STAGING_PREFIX = "k8s.io/sample-"


def kubernetes_build_module(release: str, kubernetes_go_mod: str) -> dict[str, str]:
    """Files of a main module that builds the control-plane commands of k8s.io/kubernetes.

    `go install k8s.io/kubernetes/cmd/...@v1.33.13` refuses a module with replace directives, and
    k8s.io/kubernetes requires every staging module at v0.0.0, resolved by replaces to its own
    folders. Required as a dependency instead, its replaces are ignored, so this module replaces
    each staging module with the version published for the same release.
    """
    published = staging_version(release)
    lines = [
        "module gpu-model-platform/plane-build",
        "",
        "go 1.24.0",
        "",
        f"require k8s.io/kubernetes v{release}",
        "",
        "replace (",
    ]
    files: dict[str, str] = {}
    for module in staging_modules(kubernetes_go_mod):
        if module.startswith(UNBUILT_STAGING_PREFIX):
            stub = f"stub/{module.removeprefix('k8s.io/')}"
            files[f"{stub}/go.mod"] = f"module {module}\n\ngo 1.24.0\n"
            lines.append(f"\t{module} => ./{stub}")
        else:
            lines.append(f"\t{module} => {module} {published}")
    lines.append(")")
    files["go.mod"] = "\n".join(lines) + "\n"
    return files


def kubernetes_version_ldflags(release: str) -> tuple[str, ...]:
    """What `make` would stamp: the API server reports this version, and 1.33's compatibility
    versioning derives the binary's own version from it."""
    major, minor, _ = release.split(".")
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion=v{release}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


def build_kubernetes(go: str, release: str, target_dir: Path) -> None:
    started = time.monotonic()
    say(f"downloading k8s.io/kubernetes@v{release}")
    info = json.loads(run([go, "mod", "download", "-json", f"k8s.io/kubernetes@v{release}"]))
    if info.get("Error"):
        raise ToolchainError(f"cannot download k8s.io/kubernetes@v{release}: {info['Error']}")
    files = kubernetes_build_module(release, Path(info["GoMod"]).read_text())
    with tempfile.TemporaryDirectory(prefix="plane-build-", dir=CACHE_ROOT) as scratch:
        workdir = Path(scratch)
        for name, text in files.items():
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text(text)
        partial = workdir / "out"
        partial.mkdir()
        say(f"building {', '.join(KUBERNETES_COMMANDS)} (the first build takes many minutes)")
        ldflags = " ".join(("-s", "-w", *kubernetes_version_ldflags(release)))
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
        run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", f"{partial}/", *packages],
            cwd=workdir,
            env={"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"},
        )
        for name in KUBERNETES_COMMANDS:
            (partial / name).replace(target_dir / name)
    say(f"built {', '.join(KUBERNETES_COMMANDS)} in {time.monotonic() - started:.0f}s")


def module_binaries() -> list[GoBinary]:
    """The plane's binaries that build from their own published module."""
    return [
        GoBinary(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            version=ETCD_VERSION,
            package=".",
            # etcd's modules point at each other by local path; use the same release of each.
            replaces={
                "go.etcd.io/etcd/api/v3": ETCD_VERSION,
                "go.etcd.io/etcd/client/pkg/v3": ETCD_VERSION,
                "go.etcd.io/etcd/client/v2": ETCD_CLIENT_V2_VERSION,
                "go.etcd.io/etcd/client/v3": ETCD_VERSION,
                "go.etcd.io/etcd/pkg/v3": ETCD_VERSION,
                "go.etcd.io/etcd/raft/v3": ETCD_VERSION,
            },
            # Replaced by a missing folder so that nothing can depend on them.
            dropped_replaces=("go.etcd.io/etcd", "go.etcd.io/tests/v3"),
        ),
        GoBinary(
            name="kwok",
            module="sigs.k8s.io/kwok",
            version=KWOK_VERSION,
            package="./cmd/kwok",
            ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",),
        ),
    ]


def build() -> Path:
    """Build or reuse every binary of the plane; returns their directory."""
    started = time.monotonic()
    target = bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    missing = missing_binaries()
    if not missing:
        return target
    go = require_go("the simulated cluster's control plane and KWOK")
    say(f"building the control plane into {target} with {run([go, 'version']).strip()}")
    for spec in module_binaries():
        if spec.name in missing:
            build_module_binary(go, spec, target, log=say)
    if any(name in missing for name in KUBERNETES_COMMANDS):
        build_kubernetes(go, KUBERNETES_RELEASE, target)
    still_missing = missing_binaries()
    if still_missing:
        raise ToolchainError(f"build finished but these are missing: {', '.join(still_missing)}")
    say(f"control plane built in {time.monotonic() - started:.0f}s")
    return target


# --- running the plane -------------------------------------------------------------------------

DEFAULT_RUNTIME_DIR = PROJECT_ROOT / "build" / "cluster"
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
KWOK_STAGE_CRD = "kustomize/crd/bases/kwok.x-k8s.io_stages.yaml"
CLUSTER_NAME = "gpu-model-platform-local"
# Services get addresses from this range; the API server's certificate names its first address.
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
# Nodes KWOK manages carry this annotation; nothing else in the cluster is touched by it.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# The simulated node groups: what `components/node_groups.py` would make on EKS.
CPU_INSTANCE_TYPE = "m6i.2xlarge"
GPU_INSTANCE_TYPE = "g5.2xlarge"
ZONES = ("local-a", "local-b")


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def plane_ports(layout: Layout) -> Ports:
    """The plane's ports: chosen free once, then kept, so the kubeconfig's server stays the same
    across a restart (the Kubernetes provider of a stack would otherwise see another cluster)."""
    if layout.ports_file.exists():
        return Ports(**json.loads(layout.ports_file.read_text()))
    chosen: set[int] = set()
    while len(chosen) < len(fields(Ports)):
        chosen.add(free_port())
    ports = Ports(*sorted(chosen))
    layout.ports_file.write_text(json.dumps(asdict(ports), indent=2) + "\n")
    return ports


# --- certificates ------------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise ToolchainError("`openssl` is not on PATH; it makes the plane's certificates")
    run(["openssl", *args], cwd=cwd)


def write_certificates(pki: Path) -> None:
    """A private CA, the API server's serving certificate, one client certificate in
    system:masters (used by the components and by whoever holds the kubeconfig; the plane listens
    on loopback only) and the service-account signing key. Kept across restarts."""
    if (pki / "admin.crt").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
            "-subj", f"/CN={CLUSTER_NAME}-ca", cwd=pki)  # fmt: skip
    names = ",".join(
        [
            "IP:127.0.0.1",
            f"IP:{KUBERNETES_SERVICE_IP}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    certificates = {
        "apiserver": ("/CN=kube-apiserver", f"subjectAltName={names}", "serverAuth"),
        "admin": ("/O=system:masters/CN=gpu-model-platform-admin", None, "clientAuth"),
    }
    for name, (subject, alt_names, usage) in certificates.items():
        request = ["req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr"]
        request += ["-subj", subject, "-addext", f"extendedKeyUsage={usage}"]
        if alt_names:
            request += ["-addext", alt_names]
        openssl(*request, cwd=pki)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "3650",
                "-copy_extensions", "copy", cwd=pki)  # fmt: skip
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", "service-account.key", cwd=pki)  # fmt: skip
    openssl("pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub",
            cwd=pki)  # fmt: skip


def kubeconfig_text(layout: Layout, ports: Ports) -> str:
    """A self-contained kubeconfig (certificates inline), JSON being valid YAML."""

    def inline(name: str) -> str:
        return base64.b64encode((layout.pki / name).read_bytes()).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CLUSTER_NAME,
                    "cluster": {
                        "server": f"https://127.0.0.1:{ports.apiserver}",
                        "certificate-authority-data": inline("ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": inline("admin.crt"),
                        "client-key-data": inline("admin.key"),
                    },
                }
            ],
            "contexts": [
                {"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": "admin"}}
            ],
            "current-context": CLUSTER_NAME,
        },
        indent=2,
    )


# --- talking to the API server (stdlib only) ---------------------------------------------------


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """A minimal client of the plane's API server: JSON in and out, the admin client certificate."""

    def __init__(self, layout: Layout, ports: Ports | None = None) -> None:
        ports = ports or plane_ports(layout)
        self.base = f"https://127.0.0.1:{ports.apiserver}"
        self.context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
        self.context.load_cert_chain(layout.pki / "admin.crt", layout.pki / "admin.key")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10,
    ) -> Any:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=timeout) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode()[:2000]) from None
        return json.loads(text) if text.startswith(("{", "[")) else text

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def watch(self, path: str, resource_version: str, seconds: int = 1) -> Iterator[Any]:
        """The events of a watch from `resource_version` that the server ends after `seconds`."""
        query = f"watch=1&resourceVersion={resource_version}&timeoutSeconds={seconds}"
        request = urllib.request.Request(
            f"{self.base}{path}{'&' if '?' in path else '?'}{query}",
            headers={"Accept": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=seconds + 10) as reply:
            for line in reply:
                if line.strip():
                    yield json.loads(line)

    def apply(self, path: str, body: str | dict[str, Any]) -> Any:
        """Server-side apply of one object (YAML text or a dict) at its own path."""
        return self.request(
            "PATCH",
            f"{path}?fieldManager={CLUSTER_NAME}&force=true",
            body if isinstance(body, str) else json.dumps(body),
            content_type="application/apply-patch+yaml",
        )


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ApiError, ValueError):
            pass
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = "\n  last lines of " + str(log) + ":\n" + log.read_text()[-3000:]
    raise ToolchainError(f"{what} not ready within {timeout:.0f}s{tail}")


# --- processes ---------------------------------------------------------------------------------


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of a plane process started from this layout, if it still runs."""
    pid_file = layout.pid_file(name)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return None
    # A recycled pid runs something else: only a process of our binary counts.
    return pid if Path(command).name == name else None


def start_process(layout: Layout, name: str, args: list[str]) -> None:
    layout.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with layout.log_file(name).open("ab") as log:
        process = subprocess.Popen(
            [str(bin_dir() / name), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.root,
            # Its own process group, so it outlives `make cluster-up` and stops as one.
            start_new_session=True,
        )
    layout.pid_file(name).write_text(f"{process.pid}\n")


def stop(layout: Layout, timeout: float = 15) -> list[str]:
    """Stop every process of the plane (reverse start order); returns the names stopped."""
    stopped = []
    for name in reversed(PROCESSES):
        pid = running_pid(layout, name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while running_pid(layout, name) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            if running_pid(layout, name) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        layout.pid_file(name).unlink(missing_ok=True)
    return stopped


def component_args(layout: Layout, ports: Ports) -> dict[str, list[str]]:
    pki, kubeconfig = layout.pki, str(layout.kubeconfig)
    delegated = [
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]
    return {
        "etcd": [
            "--name=plane",
            f"--data-dir={layout.root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-cluster=plane=http://127.0.0.1:{ports.etcd_peer}",
            # A disposable test cluster on a shared disk: durability is not worth the fsyncs.
            "--unsafe-no-fsync",
        ],
        "kube-apiserver": [
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            # The `kubernetes` Service cannot point at a loopback address; nothing here needs it.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            f"--kubeconfig={kubeconfig}",
            *delegated,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--cluster-name={CLUSTER_NAME}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kube-scheduler": [
            f"--kubeconfig={kubeconfig}",
            *delegated,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kwok": [
            f"--kubeconfig={kubeconfig}",
            f"--config={layout.root / 'kwok.yaml'}",
        ],
    }


def kwok_configuration(ports: Ports) -> str:
    key, value = KWOK_NODE_ANNOTATION
    return json.dumps(
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            "options": {
                "manageNodesWithAnnotationSelector": f"{key}={value}",
                "cidr": POD_CIDR,
                "nodeIP": "10.0.0.1",
                "serverAddress": f"127.0.0.1:{ports.kwok}",
                "nodeLeaseDurationSeconds": 40,
                # Stages are objects in the cluster (tools/kwok-stages.yaml at start), so a test
                # can add one, e.g. to hold one model version's pods unready.
                "enableCRDs": ["Stage"],
            },
        },
        indent=2,
    )


# --- nodes, CRDs and stages --------------------------------------------------------------------


def node(name: str, zone: str, instance_type: str) -> dict[str, Any]:
    """A simulated node as EKS would register it: GPU nodes with the GPU node group's labels and
    taint and the GPUs the NVIDIA device plugin would advertise (components/gpu.py)."""
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
        "metadata": {"name": name, "labels": labels, "annotations": {key: value}},
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


def install_crds(api: Api, files: list[Path]) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    names = []
    for file in files:
        document = file.read_text()
        names.append(yaml_name(document))
        api.apply(f"{path}/{names[-1]}", document)
    for name in names:

        def established(name: str = name) -> bool:
            conditions = (api.get(f"{path}/{name}").get("status") or {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        wait_until(f"CRD {name}", established, timeout=30)


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


def up(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> dict[str, float]:
    """Start the plane in `layout` (or find it running); returns seconds per phase. A plane that
    fails to start is stopped again, its logs kept."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    build()
    timings["build"] = time.monotonic() - started
    layout.root.mkdir(parents=True, exist_ok=True)
    if all(running_pid(layout, name) for name in PROCESSES):
        say(f"already running; kubeconfig: {layout.kubeconfig}")
        return timings
    stop(layout)  # whatever is left of a plane that half-started or half-stopped
    started = time.monotonic()
    try:
        start(layout, cpu_nodes, gpu_nodes)
    except BaseException:
        stop(layout)
        raise
    timings["start"] = time.monotonic() - started
    say(f"up in {timings['start']:.1f}s: {cpu_nodes} CPU and {gpu_nodes} GPU nodes")
    say(f"kubeconfig: {layout.kubeconfig}")
    return timings


def start(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> None:
    kwok_module = go_download(require_go("KWOK's Stage CRD"), "sigs.k8s.io/kwok", KWOK_VERSION)
    ports = plane_ports(layout)
    write_certificates(layout.pki)
    layout.kubeconfig.write_text(kubeconfig_text(layout, ports))
    layout.kubeconfig.chmod(0o600)
    (layout.root / "kwok.yaml").write_text(kwok_configuration(ports))
    args = component_args(layout, ports)
    say(f"starting the control plane from {bin_dir()}")
    start_process(layout, "etcd", args["etcd"])
    etcd_health = f"http://127.0.0.1:{ports.etcd_client}/health"
    wait_until(
        "etcd",
        lambda: b'"true"' in urllib.request.urlopen(etcd_health, timeout=2).read(),
        timeout=30,
        log=layout.log_file("etcd"),
    )
    start_process(layout, "kube-apiserver", args["kube-apiserver"])
    api = Api(layout, ports)
    wait_until(
        "kube-apiserver",
        lambda: api.get("/readyz") == "ok",
        timeout=120,
        log=layout.log_file("kube-apiserver"),
    )
    for name in ("kube-controller-manager", "kube-scheduler"):
        start_process(layout, name, args[name])
    # Only KWOK's own CRD: the prometheus-operator CRDs our objects need are the stack's
    # (components/monitoring.py), so each CRD has one owner and `destroy` removes them.
    install_crds(api, [kwok_module / KWOK_STAGE_CRD])
    apply_stages(api, STAGES_FILE.read_text())
    start_process(layout, "kwok", args["kwok"])
    for body in plane_nodes(cpu_nodes, gpu_nodes):
        try:
            api.request("POST", "/api/v1/nodes", body)
        except ApiError as error:
            if error.status != 409:  # kept from an earlier start
                raise
    wait_until(
        f"{cpu_nodes + gpu_nodes} nodes",
        lambda: nodes_ready(api, cpu_nodes + gpu_nodes),
        timeout=60,
        log=layout.log_file("kwok"),
    )
    # Pods need their namespace's default ServiceAccount, made by the controller manager.
    wait_until(
        "the default ServiceAccount",
        lambda: bool(api.get("/api/v1/namespaces/default/serviceaccounts/default")),
        timeout=60,
        log=layout.log_file("kube-controller-manager"),
    )


def status(layout: Layout) -> dict[str, int | None]:
    return {name: running_pid(layout, name) for name in PROCESSES}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", choices=["build", "bin-dir", "up", "down", "status", "kubeconfig"]
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_RUNTIME_DIR, help="runtime folder")
    parser.add_argument("--cpu-nodes", type=int, default=2)
    parser.add_argument("--gpu-nodes", type=int, default=2)
    options = parser.parse_args(argv[1:])
    layout = Layout(options.dir.resolve())
    try:
        if options.command == "build":
            build()
        elif options.command == "bin-dir":
            print(bin_dir())
        elif options.command == "up":
            up(layout, options.cpu_nodes, options.gpu_nodes)
        elif options.command == "down":
            stopped = stop(layout)
            say(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        elif options.command == "status":
            processes = status(layout)
            for name, pid in processes.items():
                print(f"{name:<24} {'running, pid ' + str(pid) if pid else 'stopped'}")
            return 0 if all(processes.values()) else 1
        elif options.command == "kubeconfig":
            print(layout.kubeconfig)
    except ToolchainError as error:
        print(f"[cluster] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
