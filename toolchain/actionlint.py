#!/usr/bin/env python3
"""actionlint, the GitHub Actions workflow checker, built from its Go module and cached.

Release binaries cannot be downloaded here, so, like the Pulumi toolchain
(toolchain/pulumi_engine.py), actionlint is built from the Go module proxy at the version pinned
in components/facts/versions.py and cached under
${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform/actionlint-<version>/bin.

Usage:
  python -m toolchain.actionlint setup          build or reuse actionlint, print its path
  python -m toolchain.actionlint check [FILE]   lint .github/workflows (or FILEs); exit 1 on errors

actionlint runs shellcheck on `run:` scripts when shellcheck is on PATH, and skips that otherwise;
`check` says which. Only the standard library is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from components.facts.versions import ACTIONLINT_VERSION
from toolchain.gobuild import (
    CACHE_ROOT,
    PROJECT_ROOT,
    Command,
    GoBinary,
    cached_binary,
    run_command_line,
)

ACTIONLINT_MODULE = "github.com/rhysd/actionlint"
WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"


def say(message: str) -> None:
    print(f"[actionlint] {message}", flush=True)


def binary_path(version: str = ACTIONLINT_VERSION) -> Path:
    return CACHE_ROOT / f"actionlint-{version}" / "bin" / "actionlint"


def setup(version: str = ACTIONLINT_VERSION) -> Path:
    """The cached binary, built first if missing (about a minute on 2 cores, once)."""
    spec = GoBinary(
        name="actionlint",
        module=ACTIONLINT_MODULE,
        version=f"v{version}",
        package="./cmd/actionlint",
    )
    return cached_binary(spec, binary_path(version), "actionlint", log=say)


def check(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """actionlint on `files`, with shellcheck on `run:` scripts when shellcheck is installed."""
    command = [str(setup()), "-no-color"]
    if shutil.which("shellcheck") is None:
        # An empty value turns the integration off explicitly instead of failing to find it.
        command += ["-shellcheck="]
    return subprocess.run(
        [*command, *map(str, files)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ},
    )


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def check_command(args: list[str]) -> int:
    files = [Path(name) for name in args] or workflow_files()
    result = check(files)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    with_shellcheck = "with" if shutil.which("shellcheck") else "without"
    verdict = "ok" if result.returncode == 0 else "errors"
    say(f"{len(files)} workflow file(s), {with_shellcheck} shellcheck: {verdict}")
    return 0 if result.returncode == 0 else 1


COMMANDS: dict[str, Command] = {"setup": lambda _: print(setup()), "check": check_command}


def main(argv: list[str]) -> int:
    return run_command_line(argv, doc=__doc__, tag="actionlint", commands=COMMANDS, default="check")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
