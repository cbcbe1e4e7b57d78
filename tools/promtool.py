#!/usr/bin/env python3
"""`promtool`, Prometheus's own rule checker, built from the Prometheus Go module.

The tests put every PromQL expression the stacks generate (alert rules and dashboard panels)
through `promtool check rules`, so an expression is parsed by the same parser as the Prometheus
that will evaluate it. No release binary can be downloaded here, so it is built from the module
proxy, like the Pulumi toolchain (tools/toolchain.py), and cached under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/promtool-<version>/bin.

    python3 tools/promtool.py setup   # build or reuse; prints the binary's path
    python3 tools/promtool.py path    # print the path without building (exit 1 when missing)
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.toolchain import (
    CACHE_ROOT,
    GoBinary,
    ToolchainError,
    build_module_binary,
    require_go,
    say,
)

# Prometheus v3.6.0, the version kube-prometheus-stack 77.14.0 deploys (components/monitoring.py
# pins that chart; tools/operator_crds.py pins its operator). Prometheus 3 publishes its Go module
# as v0.3XX.Y for release 3.XX.Y.
PROMETHEUS_RELEASE = "3.6.0"
PROMETHEUS_MODULE_VERSION = "v0.306.0"

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
    path = promtool_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    build_module_binary(require_go("promtool"), PROMTOOL, path.parent)
    return path


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "setup"
    try:
        if command == "setup":
            print(ensure_promtool())
        elif command == "path":
            if not promtool_path().exists():
                say(f"promtool {PROMETHEUS_RELEASE} is not built; run tools/promtool.py setup")
                return 1
            print(promtool_path())
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ToolchainError as error:
        print(f"[promtool] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
