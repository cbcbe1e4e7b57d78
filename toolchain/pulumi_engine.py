#!/usr/bin/env python3
"""Set up the real Pulumi engine on a machine that cannot download Pulumi release binaries.

What it ensures, at the versions pinned in requirements.txt:
  * the Pulumi CLI (PULUMI_CLI below; the `pulumi` Python SDK may be newer),
  * the Python language host `pulumi-language-python` with its exec shim, and the
    `pulumi-analyzer-policy-python` shim that runs Python policy packs,
  * the Kubernetes resource provider plugin (same version as `pulumi-kubernetes`).

A tool already on PATH (or a plugin already in PULUMI_HOME) at the right version is used as it is.
Anything missing is built from the Go module proxy and cached outside the clone, under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/, so a warm machine is set up in about a second.

Usage:
  python3 -m toolchain.pulumi_engine setup    build or reuse everything, register the plugin
  python3 -m toolchain.pulumi_engine bin-dir  print the directory to put first on PATH
  python3 -m toolchain.pulumi_engine check    exit 1 unless everything is in place (no build)

Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.facts.versions import (
    KUBERNETES_PROVIDER_PSEUDO_VERSIONS,
    LANGUAGE_HOST_SDK,
    PULUMI_CLI,
)
from toolchain.gobuild import (
    CACHE_ROOT,
    PROJECT_ROOT,
    Command,
    GoBinary,
    ToolchainError,
    build_module_binary,
    go_download,
    require_go,
    run,
    run_command_line,
    say,
    version_of,
)

REQUIREMENTS = PROJECT_ROOT / "requirements.txt"

# Go's garbage collector for the engine's Go processes (CLI, language host, provider), as the
# Makefile exports them (a test keeps the two equal) and tests/support/engine.py runs the engine:
# the CLI re-serialises the whole state at every checkpoint, and at Go's default GOGC (100) a fifth
# of a checkpointed `up`'s CPU went to collecting that garbage; 400 took a 100-change `up` from
# 13.0 to 10.1 CPU-seconds for 1.8x the CLI's peak memory (170 -> 313 MB), the soft limit keeping
# a large state from growing without bound (docs/fleet-scale.md, section 8).
ENGINE_GO_ENV = {"GOGC": "400", "GOMEMLIMIT": "3GiB"}
# The query a file backend's URL carries (Makefile: PULUMI_BACKEND_URL): gocloud's fileblob,
# which the file backend writes through, then writes no attributes sidecar beside each state file
# and hashes nothing for one (7% of the CLI's CPU in a checkpointed `up`); pulumi reads none of it.
FILE_BACKEND_QUERY = "metadata=skip"


@dataclass(frozen=True)
class Pins:
    pulumi: str
    kubernetes: str

    @property
    def key(self) -> str:
        """Names the cache folder: a change of any pinned version builds into a new folder."""
        return f"pulumi-{self.pulumi}_k8s-{self.kubernetes}_langhost-{LANGUAGE_HOST_SDK}"


def read_pins(requirements: Path = REQUIREMENTS) -> Pins:
    """The provider follows the `pulumi-kubernetes` pin, so there is one place to change it; the
    CLI is PULUMI_CLI (the `pulumi` pin must still be exact: it is what programs run)."""
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^\s*(pulumi|pulumi-kubernetes)\s*==\s*([0-9][^\s;#]*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    missing = {"pulumi", "pulumi-kubernetes"} - found.keys()
    if missing:
        raise ToolchainError(f"{requirements}: no exact pin (==) for {', '.join(sorted(missing))}")
    return Pins(pulumi=PULUMI_CLI, kubernetes=found["pulumi-kubernetes"])


def go_binaries(pins: Pins) -> list[GoBinary]:
    if pins.kubernetes not in KUBERNETES_PROVIDER_PSEUDO_VERSIONS:
        known = ", ".join(sorted(KUBERNETES_PROVIDER_PSEUDO_VERSIONS))
        raise ToolchainError(
            f"pulumi-kubernetes=={pins.kubernetes} has no recorded provider module version "
            f"(known: {known}); add the pseudo-version of its release commit to "
            "KUBERNETES_PROVIDER_PSEUDO_VERSIONS in components/facts/versions.py"
        )
    sdk_version_var = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
    return [
        GoBinary(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            version=f"v{pins.pulumi}",
            package="./cmd/pulumi",
            replaces={"github.com/pulumi/pulumi/sdk/v3": f"v{pins.pulumi}"},
            ldflags=(f"-X {sdk_version_var}=v{pins.pulumi}",),
        ),
        GoBinary(
            name="pulumi-language-python",
            module="github.com/pulumi/pulumi/sdk/v3",
            version=f"v{LANGUAGE_HOST_SDK}",
            package="./python/cmd/pulumi-language-python",
            ldflags=(f"-X {sdk_version_var}=v{LANGUAGE_HOST_SDK}",),
        ),
        GoBinary(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            version=KUBERNETES_PROVIDER_PSEUDO_VERSIONS[pins.kubernetes],
            package="./cmd/pulumi-resource-kubernetes",
            replaces={"github.com/pulumi/pulumi-kubernetes/sdk/v4": f"v{pins.kubernetes}"},
            ldflags=(
                "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version="
                f"{pins.kubernetes}",
            ),
            # The provider embeds its schema, which `go generate` stamps with the version.
            generate_env={"VERSION": pins.kubernetes},
        ),
    ]


# Shell shims shipped inside the sdk/v3 module of the pinned version: the language host runs
# programs through the first, the CLI runs Python policy packs through the second and Python
# dynamic providers (components/monitoring/generated_password.py) through the third.
SDK_SCRIPTS = {
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
    "pulumi-analyzer-policy-python": "python/dist/pulumi-analyzer-policy-python",
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
}


def reuse_installed_cli(pins: Pins, bin_dir: Path) -> bool:
    """Link a Pulumi CLI of the pinned version found on PATH, and the language host beside it."""
    found = shutil.which("pulumi")
    if found is None or Path(found).resolve().parent == bin_dir.resolve():
        return False
    if version_of(found, "version") != f"v{pins.pulumi}":
        return False
    say(f"using the Pulumi CLI v{pins.pulumi} found at {found}")
    beside = Path(found).resolve().parent
    for name in ("pulumi", "pulumi-language-python", *SDK_SCRIPTS):
        candidate = beside / name
        if candidate.exists():
            link = bin_dir / name
            link.unlink(missing_ok=True)
            link.symlink_to(candidate)
    return True


def pulumi_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))


def provider_installed(version: str) -> bool:
    plugin_dir = pulumi_home() / "plugins" / f"resource-kubernetes-v{version}"
    return (plugin_dir / "pulumi-resource-kubernetes").exists() and not (
        pulumi_home() / "plugins" / f"resource-kubernetes-v{version}.partial"
    ).exists()


def bin_dir_for(pins: Pins) -> Path:
    return CACHE_ROOT / pins.key / "bin"


def missing_pieces(pins: Pins) -> list[str]:
    bin_dir = bin_dir_for(pins)
    names = ["pulumi", "pulumi-language-python", *SDK_SCRIPTS]
    missing = [name for name in names if not (bin_dir / name).exists()]
    if not provider_installed(pins.kubernetes):
        missing.append(f"kubernetes provider plugin v{pins.kubernetes} in {pulumi_home()}")
    return missing


def setup(pins: Pins) -> Path:
    started = time.monotonic()
    bin_dir = bin_dir_for(pins)
    bin_dir.mkdir(parents=True, exist_ok=True)
    if not missing_pieces(pins):
        say(f"ready in {bin_dir} ({time.monotonic() - started:.1f}s)")
        return bin_dir

    reuse_installed_cli(pins, bin_dir)
    provider_ready = provider_installed(pins.kubernetes)
    needed = [
        spec
        for spec in go_binaries(pins)
        if not (bin_dir / spec.name).exists()
        and not (spec.name == "pulumi-resource-kubernetes" and provider_ready)
    ]
    missing_scripts = [name for name in SDK_SCRIPTS if not (bin_dir / name).exists()]
    if needed or missing_scripts:
        go = require_go("the Pulumi CLI, the Python language host and the Kubernetes provider")
        say(f"using {run([go, 'version']).strip()}")
        for spec in needed:
            build_module_binary(go, spec, bin_dir)
        if missing_scripts:
            sdk = go_download(go, "github.com/pulumi/pulumi/sdk/v3", f"v{pins.pulumi}")
            for name in missing_scripts:
                shutil.copyfile(sdk / SDK_SCRIPTS[name], bin_dir / name)
                (bin_dir / name).chmod(0o755)

    if not provider_installed(pins.kubernetes):
        provider = bin_dir / "pulumi-resource-kubernetes"
        say(f"registering kubernetes provider v{pins.kubernetes} in {pulumi_home()}")
        run(
            [
                str(bin_dir / "pulumi"),
                "plugin",
                "install",
                "resource",
                "kubernetes",
                pins.kubernetes,
                "--file",
                str(provider),
            ],
            env={"PULUMI_SKIP_UPDATE_CHECK": "true"},
        )
        # The plugin directory holds its own copy; keeping a second 100 MB copy here buys nothing.
        provider.unlink()

    still_missing = missing_pieces(pins)
    if still_missing:
        raise ToolchainError(f"setup finished but these are missing: {', '.join(still_missing)}")
    say(f"ready in {bin_dir} ({time.monotonic() - started:.0f}s)")
    return bin_dir


def check(_: list[str]) -> int:
    missing = missing_pieces(read_pins())
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


def setup_command(_: list[str]) -> None:
    setup(read_pins())


COMMANDS: dict[str, Command] = {
    "setup": setup_command,
    "bin-dir": lambda _: print(bin_dir_for(read_pins())),
    "check": check,
}


def main(argv: list[str]) -> int:
    return run_command_line(argv, doc=__doc__, tag="toolchain", commands=COMMANDS, default="setup")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
