"""The prometheus-operator CRDs, fetched by setup into the cache, where the program reads them.

ServiceMonitor and PrometheusRule objects need their CRDs, which the stack installs (one owner per
CRD). The CRD files are not committed; they come from the operator's Go module (its zip carries
`example/prometheus-operator-crd/`), fetched through the Go module proxy into the module cache,
which checks them against the checksum database, and copied into
components.facts.cache.operator_crds_dir(). The deploy program reads them from there and never
runs Go: `make setup` (and so `make up`, `make preview`, `make test`) does this first.

    python3 -m toolchain.operator_crds setup   # fetch if missing; print each CRD file's path
    python3 -m toolchain.operator_crds path    # print the folder (exit 1 when not set up)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from components.facts.cache import operator_crds_dir
from components.facts.versions import PROMETHEUS_OPERATOR
from toolchain.gobuild import Command, ToolchainError, go_download, require_go, run_command_line

OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
CRD_DIRECTORY = "example/prometheus-operator-crd"
# Written last, once every file is in place: the folder without it is incomplete.
COMPLETE_MARKER = ".complete"


def is_set_up(version: str = PROMETHEUS_OPERATOR) -> bool:
    return (operator_crds_dir(version) / COMPLETE_MARKER).is_file()


def copy_module_files(module: str, version: str, pattern: str, folder: Path) -> Path:
    """Copy the files of `module@version` matching `pattern` (a glob inside the module) into
    `folder`, once: complete when COMPLETE_MARKER is there."""
    if (folder / COMPLETE_MARKER).is_file():
        return folder
    module_dir = go_download(require_go(f"the CRDs of {module}"), module, version)
    files = sorted(module_dir.glob(pattern))
    if not files:
        raise ToolchainError(f"{module}@{version} has no files matching {pattern}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Copied whole into a scratch folder, then renamed: a reader never sees half a set.
    with tempfile.TemporaryDirectory(prefix="crds-", dir=folder.parent) as scratch:
        staged = Path(scratch) / "crds"
        staged.mkdir()
        for path in files:
            shutil.copyfile(path, staged / path.name)
        (staged / COMPLETE_MARKER).write_text(f"{module}@{version}\n")
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)
    return folder


def setup(version: str = PROMETHEUS_OPERATOR) -> Path:
    """Copy every CRD of the operator's module at `version` into the cache (once per machine)."""
    return copy_module_files(
        OPERATOR_MODULE,
        version,
        f"{CRD_DIRECTORY}/monitoring.coreos.com_*.yaml",
        operator_crds_dir(version),
    )


def crd_commands(
    setup: Callable[[], Path], folder: Callable[[], Path], is_set_up: Callable[[], bool]
) -> dict[str, Command]:
    """`setup` (fetch if missing, print each CRD file) and `path` (print the folder; exit 1 when
    not set up) of a CRD fetcher."""

    def fetch(_: list[str]) -> None:
        for path in sorted(setup().glob("*.yaml")):
            print(path)

    def show_folder(_: list[str]) -> int:
        print(folder())
        return 0 if is_set_up() else 1

    return {"setup": fetch, "path": show_folder}


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="operator-crds",
        commands=crd_commands(setup, operator_crds_dir, is_set_up),
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
