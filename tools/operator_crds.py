"""The prometheus-operator CRDs our stacks use, at the one pinned version.

ServiceMonitor and PrometheusRule objects need their CRDs: the simulated cluster installs them, the
monitoring tests validate our objects against their schemas. The CRD files are not committed; they
come from the operator's Go module (its zip carries `example/prometheus-operator-crd/`), fetched
through the Go module proxy into the module cache, which checks them against the checksum database.

    python3 tools/operator_crds.py     # prints the path of each CRD file, downloading if needed
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.toolchain import ToolchainError, go_download, require_go

OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
# The operator version kube-prometheus-stack's pinned chart deploys (components/monitoring): the
# CRDs here must match the operator that reads the objects.
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
CRD_DIRECTORY = "example/prometheus-operator-crd"
# The kinds our stacks create, by the plural the CRD files are named after.
CRD_PLURALS = ("servicemonitors", "prometheusrules")
# Every kind the operator reads: a cluster running the operator needs them all.
OPERATOR_CRD_PLURALS = (
    "alertmanagerconfigs",
    "alertmanagers",
    "podmonitors",
    "probes",
    "prometheusagents",
    "prometheuses",
    "prometheusrules",
    "scrapeconfigs",
    "servicemonitors",
    "thanosrulers",
)


def crd_files(
    version: str = PROMETHEUS_OPERATOR_VERSION, plurals: tuple[str, ...] = CRD_PLURALS
) -> dict[str, Path]:
    """The CRD file of each kind in `plurals`; downloads the module when it is missing."""
    module_dir = go_download(require_go(), OPERATOR_MODULE, version)
    files = {
        plural: module_dir / CRD_DIRECTORY / f"monitoring.coreos.com_{plural}.yaml"
        for plural in plurals
    }
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise ToolchainError(f"{OPERATOR_MODULE}@{version} has no {', '.join(missing)}")
    return files


def main() -> int:
    try:
        for plural, path in crd_files().items():
            print(f"{plural}\t{path}")
    except ToolchainError as error:
        print(f"[operator-crds] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
