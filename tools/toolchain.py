#!/usr/bin/env python3
"""Set up the real Pulumi engine on a machine that cannot download Pulumi release binaries.

What it ensures, at the versions pinned in requirements.txt:
  * the Pulumi CLI (PULUMI_CLI_VERSION below; the `pulumi` Python SDK may be newer),
  * the Python language host `pulumi-language-python` with its exec shim, and the
    `pulumi-analyzer-policy-python` shim that runs Python policy packs,
  * the Kubernetes resource provider plugin (same version as `pulumi-kubernetes`).

A tool already on PATH (or a plugin already in PULUMI_HOME) at the right version is used as it is.
Anything missing is built from the Go module proxy and cached outside the clone, under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/, so a warm machine is set up in about a second.

Usage:
  tools/toolchain.py setup      build or reuse everything, register the provider plugin
  tools/toolchain.py bin-dir    print the directory to put first on PATH
  tools/toolchain.py check      exit 1 unless everything is already in place (no building)

Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"

# The Kubernetes provider lives in the nested module `provider/v4`, which has no tags of its own, so
# the proxy knows it only by pseudo-version at the commit of the release tag `v<version>`. The proxy
# this project can reach serves canonical pseudo-versions but refuses to resolve bare commit hashes,
# so the pseudo-version of each supported release is recorded here (tag v4.25.0 is commit f47bc2d6).
KUBERNETES_PROVIDER_PSEUDO_VERSIONS = {
    "4.25.0": "v4.0.0-20260115033456-f47bc2d6f199",
}

# The Python language host became its own nested module (sdk/python/cmd/pulumi-language-python/v3)
# in pulumi 3.80. The module proxy reachable here holds no version of that module at all, so the
# newest language host it can provide is the one still inside the `sdk/v3` module, v3.79.0. It
# speaks the same LanguageRuntime protocol; the CLI falls back from the newer RPCs it does not
# implement (GetRequiredPackages, Handshake), and the Python program itself runs with the exec
# shim and SDK of the pinned version. It takes the interpreter from PULUMI_PYTHON_CMD, which the
# Makefile and the tests set to the project's virtualenv.
LANGUAGE_HOST_SDK_VERSION = "3.79.0"
# The CLI is pinned here, not by the `pulumi` SDK pin in requirements.txt. From 3.2xx on, the CLI
# runs Python policy packs through the language host's RunPlugin, which the only language host
# this proxy can build (above) lacks; 3.215.0 still starts them through the
# `pulumi-analyzer-policy-python` shim. The SDK moves on without it (3.260 registers resources
# several times faster; the engine protocol between them is versioned and feature-checked).
PULUMI_CLI_VERSION = "3.215.0"


CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpu-model-platform"


class ToolchainError(RuntimeError):
    """Something the toolchain needs cannot be had; the message names it."""


@dataclass(frozen=True)
class Pins:
    pulumi: str
    kubernetes: str

    @property
    def key(self) -> str:
        """Names the cache folder: a change of any pinned version builds into a new folder."""
        return f"pulumi-{self.pulumi}_k8s-{self.kubernetes}_langhost-{LANGUAGE_HOST_SDK_VERSION}"


@dataclass(frozen=True)
class GoBinary:
    """One binary built from a published Go module."""

    name: str
    module: str
    version: str
    package: str
    # Local-path `replace` directives of the module, pointed at published module versions instead.
    replaces: dict[str, str] = field(default_factory=dict)
    # Local-path `replace` directives that only guard against a dependency; dropped.
    dropped_replaces: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    generate_env: dict[str, str] | None = None  # run `go generate` in `package` with this env


def read_pins(requirements: Path = REQUIREMENTS) -> Pins:
    """The provider follows the `pulumi-kubernetes` pin, so there is one place to change it; the
    CLI is PULUMI_CLI_VERSION (the `pulumi` pin must still be exact: it is what programs run)."""
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^\s*(pulumi|pulumi-kubernetes)\s*==\s*([0-9][^\s;#]*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    missing = {"pulumi", "pulumi-kubernetes"} - found.keys()
    if missing:
        raise ToolchainError(f"{requirements}: no exact pin (==) for {', '.join(sorted(missing))}")
    return Pins(pulumi=PULUMI_CLI_VERSION, kubernetes=found["pulumi-kubernetes"])


def go_binaries(pins: Pins) -> list[GoBinary]:
    if pins.kubernetes not in KUBERNETES_PROVIDER_PSEUDO_VERSIONS:
        known = ", ".join(sorted(KUBERNETES_PROVIDER_PSEUDO_VERSIONS))
        raise ToolchainError(
            f"pulumi-kubernetes=={pins.kubernetes} has no recorded provider module version "
            f"(known: {known}); add the pseudo-version of its release commit to "
            "KUBERNETES_PROVIDER_PSEUDO_VERSIONS in tools/toolchain.py"
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
            version=f"v{LANGUAGE_HOST_SDK_VERSION}",
            package="./python/cmd/pulumi-language-python",
            ldflags=(f"-X {sdk_version_var}=v{LANGUAGE_HOST_SDK_VERSION}",),
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
# dynamic providers (components/generated_password.py) through the third.
SDK_SCRIPTS = {
    "pulumi-language-python-exec": "python/cmd/pulumi-language-python-exec",
    "pulumi-analyzer-policy-python": "python/dist/pulumi-analyzer-policy-python",
    "pulumi-resource-pulumi-python": "python/dist/pulumi-resource-pulumi-python",
}


def say(message: str) -> None:
    print(f"[toolchain] {message}", flush=True)


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ToolchainError(
            f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{result.stderr.strip()[-4000:]}"
        )
    return result.stdout


def require_go(needed_for: str = "the tools this project builds") -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            f"the Go toolchain (`go`) is not on PATH; it is needed to build {needed_for} from the "
            "Go module proxy"
        )
    return go


def go_download(go: str, module: str, version: str) -> Path:
    """Fetch a module into the module cache and return its (read-only) directory."""
    out = run([go, "mod", "download", "-json", f"{module}@{version}"])
    info = json.loads(out)
    if info.get("Error"):
        raise ToolchainError(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def build_module_binary(
    go: str, spec: GoBinary, bin_dir: Path, log: Callable[[str], None] = say
) -> None:
    """Build one binary from its published module (copied, since the module cache is read-only)."""
    started = time.monotonic()
    log(f"downloading {spec.module}@{spec.version}")
    source = go_download(go, spec.module, spec.version)
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-", dir=CACHE_ROOT) as scratch:
        workdir = Path(scratch) / "src"
        shutil.copytree(source, workdir)
        for path in workdir.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        # `go install module@version` refuses modules with replace directives, so the module is
        # built as a main module of its own, with each local-path replace pointed at the published
        # module of the same release.
        for module, version in spec.replaces.items():
            run(
                [go, "mod", "edit", f"-dropreplace={module}", f"-require={module}@{version}"],
                cwd=workdir,
            )
        for module in spec.dropped_replaces:
            run([go, "mod", "edit", f"-dropreplace={module}"], cwd=workdir)
        leftover = [
            r["Old"]["Path"]
            for r in json.loads(run([go, "mod", "edit", "-json"], cwd=workdir)).get("Replace") or []
            if r["New"].get("Version") is None
        ]
        if leftover:
            raise ToolchainError(f"{spec.module}: unhandled local replace of {', '.join(leftover)}")
        go_env = {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        if spec.generate_env is not None:
            log(f"go generate {spec.package}")
            run([go, "generate", spec.package], cwd=workdir, env={**go_env, **spec.generate_env})
        log(f"building {spec.name} (the first build takes minutes)")
        target = bin_dir / f".{spec.name}.partial"
        ldflags = " ".join(("-s", "-w", *spec.ldflags))
        run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(target), spec.package],
            cwd=workdir,
            env=go_env,
        )
        target.replace(bin_dir / spec.name)
    log(f"built {spec.name} in {time.monotonic() - started:.0f}s")


def version_of(binary: str, *args: str) -> str | None:
    try:
        result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


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


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "setup"
    try:
        pins = read_pins()
        if command == "setup":
            setup(pins)
        elif command == "bin-dir":
            print(bin_dir_for(pins))
        elif command == "check":
            missing = missing_pieces(pins)
            if missing:
                print("missing: " + ", ".join(missing), file=sys.stderr)
                return 1
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ToolchainError as error:
        print(f"[toolchain] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
