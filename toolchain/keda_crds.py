"""KEDA's CRDs (ScaledObject and the rest), fetched by setup into the cache, where the program reads
them, as the prometheus-operator CRDs are (toolchain/operator_crds.py): from the operator's Go
module at the pinned release (`config/crd/bases/`), never from the chart, so each CRD has one
owner whether or not the KEDA chart is deployed.

    python3 -m toolchain.keda_crds setup   # fetch if missing; print each CRD file's path
    python3 -m toolchain.keda_crds path    # print the folder (exit 1 when not set up)
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.facts.cache import keda_crds_dir
from components.facts.versions import KEDA_MODULE_VERSION
from toolchain.gobuild import run_command_line
from toolchain.operator_crds import COMPLETE_MARKER, copy_module_files, crd_commands

KEDA_MODULE = "github.com/kedacore/keda/v2"
CRD_PATTERN = "config/crd/bases/*.yaml"


def is_set_up(version: str = KEDA_MODULE_VERSION) -> bool:
    return (keda_crds_dir(version) / COMPLETE_MARKER).is_file()


def setup(version: str = KEDA_MODULE_VERSION) -> Path:
    return copy_module_files(KEDA_MODULE, version, CRD_PATTERN, keda_crds_dir(version))


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="keda-crds",
        commands=crd_commands(setup, keda_crds_dir, is_set_up),
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
