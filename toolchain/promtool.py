#!/usr/bin/env python3
"""`promtool`, Prometheus's own rule checker, built from the Prometheus Go module.

The tests put every PromQL expression the stacks generate (alert rules and dashboard panels)
through `promtool check rules`, so an expression is parsed by the same parser as the Prometheus
that will evaluate it. No release binary can be downloaded here, so it is built from the module
proxy, like the Pulumi toolchain (toolchain/pulumi_engine.py), and cached under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/promtool-<version>/bin.

    python3 -m toolchain.promtool setup # build or reuse; prints the binary's path
    python3 -m toolchain.promtool path # print the path without building (exit 1 when missing)
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.facts.versions import PROMETHEUS_MODULE_VERSION, PROMETHEUS_RELEASE
from toolchain.gobuild import (
    CACHE_ROOT,
    GoBinary,
    binary_commands,
    cached_binary,
    run_command_line,
)

PROMTOOL = GoBinary(
    name="promtool",
    module="github.com/prometheus/prometheus",
    version=PROMETHEUS_MODULE_VERSION,
    package="./cmd/promtool",
    ldflags=(f"-X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}",),
)


def promtool_path() -> Path:
    return CACHE_ROOT / f"promtool-{PROMETHEUS_RELEASE}" / "bin" / PROMTOOL.name


def ensure_promtool() -> Path:
    """The cached promtool; built (minutes, once per machine) when missing."""
    return cached_binary(PROMTOOL, promtool_path(), "promtool")


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="promtool",
        commands=binary_commands("promtool", ensure_promtool, promtool_path),
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
