#!/usr/bin/env python3
"""The Prometheus server, built from the Prometheus Go module promtool is built from
(toolchain/promtool.py: same module version, same flags, so the two share Go's build cache), and
cached under ${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/prometheus-<version>/bin.

Tests run it on loopback where a real Prometheus must answer PromQL: KEDA's Prometheus trigger
queries it on the simulated cluster. Built without the `builtinassets` tag, so the web UI's assets
are not compiled in (the HTTP API, all the tests use, is).

    python3 -m toolchain.prometheus setup   # build or reuse; prints the binary's path
    python3 -m toolchain.prometheus path    # print the path without building (exit 1 when missing)
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.facts.versions import PROMETHEUS_RELEASE
from toolchain.gobuild import (
    CACHE_ROOT,
    GoBinary,
    binary_commands,
    cached_binary,
    run_command_line,
)
from toolchain.promtool import PROMTOOL

PROMETHEUS = GoBinary(
    name="prometheus",
    module=PROMTOOL.module,
    version=PROMTOOL.version,
    package="./cmd/prometheus",
    ldflags=PROMTOOL.ldflags,
)


def prometheus_path() -> Path:
    return CACHE_ROOT / f"prometheus-{PROMETHEUS_RELEASE}" / "bin" / PROMETHEUS.name


def ensure_prometheus() -> Path:
    """The cached Prometheus server; built (minutes, once per machine) when missing."""
    return cached_binary(PROMETHEUS, prometheus_path(), "the Prometheus server")


def main(argv: list[str]) -> int:
    return run_command_line(
        argv,
        doc=__doc__,
        tag="prometheus",
        commands=binary_commands("prometheus", ensure_prometheus, prometheus_path),
        default="setup",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
