"""A real Kubernetes control plane on loopback, with simulated CPU and GPU nodes.

Usage:
  python3 -m toolchain.plane build                 build or reuse the binaries
  python3 -m toolchain.plane bin-dir               print the binaries' folder
  python3 -m toolchain.plane up [--dir D]          build if needed, create or start with kwokctl,
                                                   write D/kubeconfig
  python3 -m toolchain.plane down [--dir D]        stop the plane's processes (state kept)
  python3 -m toolchain.plane status [--dir D]      exit 1 unless the plane in D is up
  python3 -m toolchain.plane kubeconfig [--dir D]  print the kubeconfig path
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolchain.gobuild import ToolchainError
from toolchain.plane.build import bin_dir, build, say
from toolchain.plane.layout import DEFAULT_RUNTIME_DIR, Layout
from toolchain.plane.lifecycle import status, up
from toolchain.plane.processes import stop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m toolchain.plane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
            components = status(layout)
            if not components:
                print(f"no plane in {layout.root}")
            for name, state in components.items():
                print(f"{name:<24} {state}")
            return 0 if components and all(s == "Ready" for s in components.values()) else 1
        elif options.command == "kubeconfig":
            print(layout.kubeconfig)
    except ToolchainError as error:
        print(f"[cluster] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
