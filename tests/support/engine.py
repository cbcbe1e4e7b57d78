"""Drive the real Pulumi engine on a private copy of the project, with a private file backend.

Each copy holds the program, its stack files and its own backend folder, so tests neither see nor
touch the developer's `.pulumi-state` or `build/` and can run in any order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from commands.engine_events import read_events
from tests.support.mocks import record_gate
from toolchain.pulumi_engine import (
    ENGINE_GO_ENV,
    FILE_BACKEND_QUERY,
    bin_dir_for,
    missing_pieces,
    read_pins,
)

ROOT = Path(__file__).resolve().parents[2]
# What a program run needs from the project; tests may add files (model folders, say) to a copy.
PROGRAM_FILES = (
    "Pulumi.yaml",
    "Pulumi.local.yaml",
    "__main__.py",
    "components",
    "programs",
    "models",
    # Not the program's (it imports only components/): the gate a test runs on the copy's models.
    "commands",
)
LOCAL_PASSPHRASE = "local-only-not-a-secret"


def engine_env(backend: Path) -> dict[str, str]:
    pins = read_pins()
    missing = missing_pieces(pins)
    if missing:
        raise RuntimeError(f"the Pulumi toolchain is not set up (run `make setup`): {missing}")
    env = {
        **os.environ,
        "PATH": f"{bin_dir_for(pins)}{os.pathsep}{os.environ['PATH']}",
        **ENGINE_GO_ENV,
        "PULUMI_BACKEND_URL": f"{backend.as_uri()}?{FILE_BACKEND_QUERY}",
        "PULUMI_CONFIG_PASSPHRASE": LOCAL_PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The interpreter running the tests has the project's requirements installed.
        "PULUMI_PYTHON_CMD": sys.executable,
    }
    return env


# `make cluster-up` points the developer's local stack at the simulated cluster by setting these
# in Pulumi.local.yaml; copies start from the committed default (render manifests) instead, and
# tests that want a cluster set them on their copy.
CLUSTER_KEYS = ("gpu-model-platform:kubeconfig", "gpu-model-platform:kubeContext")


def render_by_default(project: Path) -> None:
    stack_file = project / "Pulumi.local.yaml"
    settings = yaml.safe_load(stack_file.read_text()) or {}
    config = settings.get("config") or {}
    if any(key in config for key in CLUSTER_KEYS):
        settings["config"] = {k: v for k, v in config.items() if k not in CLUSTER_KEYS}
        stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))


def copy_program(project: Path) -> None:
    for name in PROGRAM_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, project / name)
    render_by_default(project)


# The engine writes only the final checkpoint (an experimental flag of the pinned CLI). For tests
# whose subject is not the state's history: with the monitoring charts the state is about 31 MB
# (CRDs of about 1 MB each), the file backend rewrites all of it at every step, and `up` took
# 6 min 56 s with checkpoints against 52 s without (test_monitoring_cluster.py). `make up` for
# users keeps them: interruption recovery (#14) reads them.
SKIP_CHECKPOINTS = {"PULUMI_EXPERIMENTAL": "true", "PULUMI_SKIP_CHECKPOINTS": "true"}


@dataclass
class LocalStack:
    project: Path
    env: dict[str, str]
    stack: str = "local"
    config_file: str | None = None
    """A models stack runs with its platform stack's config file (components/fleet/stacks.py)."""

    @classmethod
    def create(cls, workdir: Path) -> LocalStack:
        project = workdir / "project"
        project.mkdir(parents=True)
        copy_program(project)
        backend = workdir / "state"
        backend.mkdir()
        stack = cls(project=project, env=engine_env(backend))
        stack.pulumi("stack", "init", stack.stack, "--secrets-provider", "passphrase")
        return stack

    def pulumi(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = ["pulumi", "--non-interactive", *args]
        if args[0] not in ("stack", "plugin"):
            command += ["--stack", self.stack]
            if self.config_file and args[0] in ("preview", "up", "refresh", "destroy", "config"):
                command += ["--config-file", self.config_file]
        result = subprocess.run(
            command,
            cwd=self.project,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{' '.join(command)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def preview(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi("preview", *args, check=check)

    def up(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi("up", "--yes", "--skip-preview", *args, check=check)

    def preview_events(self, *args: str) -> tuple[list[dict[str, Any]], str, int]:
        """One preview run, as `make preview` runs it: the engine's events (`--event-log`), the
        human diff it printed, and its exit status."""
        log = self.project.parent / "preview-events.jsonl"
        log.unlink(missing_ok=True)
        result = self.pulumi(
            "preview",
            "--diff",
            "--event-log",
            str(log),
            *args,
            check=False,
            extra_env={"PULUMI_DEBUG_COMMANDS": "true"},
        )
        events = read_events(log.read_text().splitlines()) if log.exists() else []
        return events, result.stdout + result.stderr, result.returncode

    def restore_program(self) -> None:
        """Undo a test's edits: the program files as the repository has them, state untouched."""
        for name in PROGRAM_FILES:
            target = self.project / name
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
        copy_program(self.project)

    def preview_steps(self) -> dict[str, str]:
        """URN to operation of every step a preview plans, except resources left as they are."""
        plan = json.loads(self.preview("--json").stdout)
        return {step["urn"]: step["op"] for step in plan.get("steps", []) if step["op"] != "same"}

    def outputs(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.pulumi("stack", "output", "--json").stdout)
        return result

    def state(self) -> dict[str, Any]:
        """The stack's checkpoint: what the engine believes is deployed."""
        exported: dict[str, Any] = json.loads(
            self.pulumi("stack", "export", "--stack", self.stack).stdout
        )
        return exported

    def resource_urns(self) -> list[str]:
        return [r["urn"] for r in self.state()["deployment"].get("resources") or []]

    @property
    def manifests(self) -> Path:
        return self.project / "build" / "manifests" / "local"


def edit_spec(stack: LocalStack, model: str, **changes: object) -> None:
    """Replace top-level fields of a model.yaml in the stack's copy of the project."""
    path = stack.project / "models" / model / "model.yaml"
    raw = yaml.safe_load(path.read_text())
    raw.update(changes)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def copy_model(stack: LocalStack, source: str, name: str, **changes: object) -> Path:
    """A new model folder: a copy of `source` (its SavedModels included) named `name`, with
    `changes` to its model.yaml and a passing gate record per version, as if its gate had run."""
    folder = stack.project / "models" / name
    shutil.copytree(stack.project / "models" / source, folder)
    shutil.rmtree(folder / "gate")
    edit_spec(stack, name, name=name, **changes)
    for version in yaml.safe_load((folder / "model.yaml").read_text())["versions"]:
        record_gate(folder, version["id"], passed=True)
    return folder


def copy_repository(clone: Path) -> Path:
    """What a fresh clone of the repository holds (tracked and untracked, not ignored files), as
    they are in the working tree, with the installed virtualenv linked in: its install stamp is
    newer than the copied requirements, so `make` does not reinstall."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, tracked):
        # A checkout whose .venv is a symlink (a worktree sharing one) lists it as untracked.
        if (ROOT / name).is_file() and name != ".venv":
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    render_by_default(clone)
    return clone


def user_env() -> dict[str, str]:
    """The environment of a user's shell: `make` must choose the backend, passphrase and Python."""
    dropped = {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_PYTHON_CMD", "MAKEFLAGS"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


def run_make(
    clone: Path,
    *arguments: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """`make ARGUMENTS` in a copy of the repository, as a user's shell runs it."""
    return subprocess.run(
        ["make", *arguments],
        cwd=clone,
        env=env or user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def timed_make(
    figures: dict[str, Any],
    key: str,
    clone: Path,
    *arguments: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """`make ARGUMENTS` that must succeed, its wall seconds recorded as `figures[key]`; its
    output."""
    started = time.monotonic()
    result = run_make(clone, *arguments, env=env, timeout=timeout)
    figures[key] = round(time.monotonic() - started, 1)
    assert result.returncode == 0, f"make {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout
