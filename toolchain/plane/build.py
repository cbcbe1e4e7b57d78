"""Building the plane's programs from their Go modules into the cache.

etcd, KWOK (its controller and kwokctl, which runs the plane) and metrics-server build from their
own published modules (toolchain.gobuild); kube-apiserver,
kube-controller-manager and kube-scheduler from k8s.io/kubernetes through a generated main module,
at the versions pinned in components/facts/versions.py. The cache folder names every pin, so a new
pin builds into a new folder.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from components.facts.versions import (
    ETCD_CLIENT_V2_VERSION,
    ETCD_VERSION,
    KUBERNETES_RELEASE,
    KWOK_VERSION,
    METRICS_SERVER_VERSION,
)
from toolchain.gobuild import (
    CACHE_ROOT,
    GoBinary,
    ToolchainError,
    build_module_binary,
    require_go,
    run,
)

# The programs the plane runs; kwokctl starts and stops them (lifecycle.py).
PROCESSES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "metrics-server",
)
# kwokctl is a tool, not a process of the plane: it creates, starts and stops the others.
KWOKCTL = "kwokctl"
BINARIES = (*PROCESSES, KWOKCTL)
# Built into a folder of its own, named by its pin: adding it (or bumping it) does not rebuild the
# rest of the plane, whose folder names only the pins of its binaries.
OWN_FOLDER = ("metrics-server",)
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def say(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def plane_key() -> str:
    """Names the cache folder: a change of any pinned version builds into a new folder."""
    return f"plane-k8s-{KUBERNETES_RELEASE}_etcd-{ETCD_VERSION[1:]}_kwok-{KWOK_VERSION[1:]}"


def bin_dir() -> Path:
    return CACHE_ROOT / plane_key() / "bin"


def metrics_server_dir() -> Path:
    return CACHE_ROOT / f"metrics-server-{METRICS_SERVER_VERSION[1:]}" / "bin"


def binary_path(name: str) -> Path:
    return (metrics_server_dir() if name in OWN_FOLDER else bin_dir()) / name


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not binary_path(name).exists()]


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
        # Same module and release as kwok; built on its own so that a cache holding kwok from
        # before kwokctl was needed builds only kwokctl.
        GoBinary(
            name=KWOKCTL,
            module="sigs.k8s.io/kwok",
            version=KWOK_VERSION,
            package="./cmd/kwokctl",
            ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",),
        ),
        GoBinary(
            name="metrics-server",
            module="sigs.k8s.io/metrics-server",
            version=METRICS_SERVER_VERSION,
            package="./cmd/metrics-server",
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
            folder = binary_path(spec.name).parent
            folder.mkdir(parents=True, exist_ok=True)
            build_module_binary(go, spec, folder, log=say)
    if any(name in missing for name in KUBERNETES_COMMANDS):
        build_kubernetes(go, KUBERNETES_RELEASE, target)
    still_missing = missing_binaries()
    if still_missing:
        raise ToolchainError(f"build finished but these are missing: {', '.join(still_missing)}")
    say(f"control plane built in {time.monotonic() - started:.0f}s")
    return target
