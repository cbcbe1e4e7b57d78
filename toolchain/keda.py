#!/usr/bin/env python3
"""KEDA's operator and its metrics API server, built from KEDA's Go module at the pinned release
(components/facts/versions.py) and cached under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/keda-<version>/bin.

The integration test of KEDA on the simulated cluster (tests/integration/test_keda_cluster.py)
runs both out of cluster against the plane: the operator turns each ScaledObject into the HPA it
owns, the metrics API server answers that HPA's external metric from the Prometheus trigger.
Both are built by one `go build`, so the packages they share (every scaler) compile once. KEDA's
go.mod replaces only by published versions, which a main module of its own honours.

    python3 -m toolchain.keda setup   # build or reuse; prints the folder of both binaries
    python3 -m toolchain.keda path    # print the folder without building (exit 1 when missing)
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.facts.versions import KEDA_MODULE_VERSION
from toolchain.gobuild import (
    CACHE_ROOT,
    GoBinary,
    build_module_binary,
    require_go,
    run_command_line,
    say,
)

OPERATOR = "keda"
METRICS_API_SERVER = "keda-adapter"
KEDA = GoBinary(
    name=OPERATOR,
    module="github.com/kedacore/keda/v2",
    version=KEDA_MODULE_VERSION,
    package="./cmd/operator",
    also=((METRICS_API_SERVER, "./cmd/adapter"),),
    ldflags=(f"-X github.com/kedacore/keda/v2/version.Version={KEDA_MODULE_VERSION[1:]}",),
)


def keda_bin_dir() -> Path:
    return CACHE_ROOT / f"keda-{KEDA_MODULE_VERSION[1:]}" / "bin"


def keda_path(name: str) -> Path:
    """The cached binary `name` (OPERATOR or METRICS_API_SERVER)."""
    return keda_bin_dir() / name


def ensure_keda() -> Path:
    """The folder of the cached operator and metrics API server; both built (many minutes, once
    per machine) when either is missing."""
    folder = keda_bin_dir()
    if not is_built():
        folder.mkdir(parents=True, exist_ok=True)
        build_module_binary(require_go("KEDA's operator and metrics API server"), KEDA, folder)
    return folder


def is_built() -> bool:
    return all(keda_path(name).exists() for name in KEDA.binaries)


def setup(_: list[str]) -> None:
    print(ensure_keda())


def show_path(_: list[str]) -> int:
    if not is_built():
        say("KEDA is not built; run python3 -m toolchain.keda setup")
        return 1
    print(keda_bin_dir())
    return 0


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="keda",
        commands={"setup": setup, "path": show_path},
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
