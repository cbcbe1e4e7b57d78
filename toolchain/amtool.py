#!/usr/bin/env python3
"""`amtool`, Alertmanager's own config checker and route tester, built from the Alertmanager Go
module at the version kube-prometheus-stack deploys (components/facts/versions.py), and cached
under ${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/amtool-<version>/bin like promtool.

The tests run `amtool check-config` on the Alertmanager config the stack generates and
`amtool config routes test` for each severity, so routing is checked by the code that will route.

    python3 -m toolchain.amtool setup   # build or reuse; prints the binary's path
    python3 -m toolchain.amtool path    # print the path without building (exit 1 when missing)
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.facts.versions import ALERTMANAGER_VERSION
from toolchain.gobuild import (
    CACHE_ROOT,
    GoBinary,
    binary_commands,
    cached_binary,
    run_command_line,
)

AMTOOL = GoBinary(
    name="amtool",
    module="github.com/prometheus/alertmanager",
    version=ALERTMANAGER_VERSION,
    package="./cmd/amtool",
    ldflags=(f"-X github.com/prometheus/common/version.Version={ALERTMANAGER_VERSION[1:]}",),
)


def amtool_path() -> Path:
    return CACHE_ROOT / f"amtool-{ALERTMANAGER_VERSION[1:]}" / "bin" / AMTOOL.name


def ensure_amtool() -> Path:
    """The cached amtool; built (minutes, once per machine) when missing."""
    return cached_binary(AMTOOL, amtool_path(), "amtool")


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="amtool",
        commands=binary_commands("amtool", ensure_amtool, amtool_path),
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
