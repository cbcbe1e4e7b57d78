"""Interrupt `make up` the way issue #14 does: `kill -9` of the `pulumi up` it runs, at a moment
the checkpoint holds pending creates, and see what the engine left (Linux: /proc).

The engine of a copy made by tests.support.engine.copy_repository keeps its checkpoint in the
copy's file backend (`.pulumi-state`), which is read here while the engine runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.engine import user_env

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    command: str


def processes() -> dict[int, tuple[int, str]]:
    """pid to (parent pid, command line) of every process."""
    found = {}
    for entry in PROC.glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        found[int(entry.name)] = (parent, " ".join(a.decode() for a in argv if a))
    return found


def descendants(pid: int) -> list[Process]:
    table = processes()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, command) in table.items():
            if ppid == parent:
                found.append(Process(child, command))
                frontier.append(child)
    return found


def alive(process: Process) -> bool:
    """Still running, and still the same program (pids are reused)."""
    try:
        stat = (PROC / str(process.pid) / "stat").read_text()
        argv = (PROC / str(process.pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    command = " ".join(a.decode() for a in argv if a)
    return stat.rpartition(")")[2].split()[0] != "Z" and command == process.command


def stop_processes_in(folder: Path) -> None:
    """Kill every process working in `folder` (a test's copy): what a failed test left running."""
    folder = folder.resolve()
    for entry in PROC.glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def checkpoint(clone: Path, project: str = "gpu-model-platform", stack: str = "local") -> Any:
    path = clone / ".pulumi-state" / ".pulumi" / "stacks" / project / f"{stack}.json"
    try:
        return json.loads(path.read_text())["checkpoint"]["latest"] or {}
    except (OSError, ValueError, KeyError):  # not written yet, or being replaced
        return {}


def pending_custom_creates(clone: Path) -> list[dict[str, Any]]:
    """Pending creates of Kubernetes objects (not of components) in the checkpoint."""
    return [
        op
        for op in checkpoint(clone).get("pending_operations") or []
        if op["type"] == "creating" and op["resource"]["custom"]
    ]


def object_name(op: dict[str, Any]) -> str:
    return str(op["resource"]["inputs"]["metadata"]["name"])


def start_make(clone: Path, *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["make", *arguments],
        cwd=clone,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def engine_of(make: subprocess.Popen[str], verb: str = "up") -> Process:
    """The `pulumi VERB` process a running `make` started."""

    def find() -> Process | None:
        return next(
            (
                p
                for p in descendants(make.pid)
                if Path(f"{p.command} ".split()[0] if p.command else "").name == "pulumi"
                and f" {verb} " in f"{p.command} "
            ),
            None,
        )

    found: Process = wait_for(f"`pulumi {verb}` to start", find)
    return found


def provider_of(engine: Process) -> Process:
    found: Process = wait_for(
        "the Kubernetes provider to start",
        lambda: next(
            (p for p in descendants(engine.pid) if "pulumi-resource-kubernetes" in p.command), None
        ),
    )
    return found


@dataclass(frozen=True)
class Killed:
    output: str
    """All `make` printed, up to and after the kill."""
    status: int
    plugins: list[Process]
    """The engine's descendants just before the kill."""
    pending: list[dict[str, Any]]
    """The pending creates of Kubernetes objects in the checkpoint at the kill."""


def kill_engine(
    make: subprocess.Popen[str], engine: Process, pending: list[dict[str, Any]]
) -> Killed:
    """`kill -9` the engine, then wait for `make` to end."""
    plugins = descendants(engine.pid)
    os.kill(engine.pid, signal.SIGKILL)
    output, _ = make.communicate(timeout=120)
    return Killed(output, make.returncode, plugins, pending)


def kill_up_after_rendering(clone: Path, model: str) -> Killed:
    """Render mode: `make up` until the engine has rendered a manifest of `model` and has more of
    its objects under way, then `kill -9` of `pulumi up` once the provider wrote those too but
    the engine could not record them, so the checkpoint still calls them pending creates.

    Rendering takes milliseconds, so it is slowed down by freezing processes: the provider
    (SIGSTOP) while the engine starts creates it cannot finish, then the engine while the
    provider, thawed, writes the files."""
    make = start_make(clone, "up")
    engine = engine_of(make)
    manifests = clone / "build" / "manifests" / "local"
    # The update's provider: the preview before it had one of its own, and renders nothing.
    wait_for("a rendered manifest", lambda: any(manifests.rglob("*.yaml")))
    provider = provider_of(engine)
    wait_for(
        f"a rendered manifest of {model}",
        lambda: any(f"-{model}" in p.name for p in manifests.rglob("*.yaml")),
    )
    os.kill(provider.pid, signal.SIGSTOP)
    pending = wait_for(
        f"a pending create of a {model} object",
        lambda: [op for op in pending_custom_creates(clone) if object_name(op).startswith(model)],
    )
    os.kill(engine.pid, signal.SIGSTOP)
    os.kill(provider.pid, signal.SIGCONT)
    names = {object_name(op) for op in pending_custom_creates(clone)} & {
        object_name(op) for op in pending
    }
    wait_for(
        f"the provider to write the manifests of {sorted(names)}",
        lambda: all(
            any(p.stem.endswith(f"-{n}") for p in manifests.rglob("*.yaml")) for n in names
        ),
        timeout=30,
    )
    return kill_engine(make, engine, pending_custom_creates(clone))


def kill_up_and_its_runner(clone: Path) -> Killed:
    """`kill -9` of `pulumi up` and of the commands.engine_run around it at once (as when the
    whole `make` is killed), once the update renders: nothing is left to stop the plugins."""
    make = start_make(clone, "up")
    engine = engine_of(make)
    manifests = clone / "build" / "manifests" / "local"
    wait_for("a rendered manifest", lambda: any(manifests.rglob("*.yaml")))
    runner = next(p for p in descendants(make.pid) if "commands.engine_run" in p.command)
    plugins = descendants(engine.pid)
    os.kill(runner.pid, signal.SIGKILL)
    os.kill(engine.pid, signal.SIGKILL)
    output, _ = make.communicate(timeout=120)
    return Killed(output, make.returncode, plugins, pending_custom_creates(clone))


def kill_up_when(clone: Path, what: str, ready: Callable[[], Any], timeout: float = 600) -> Killed:
    """`make up`, then `kill -9` of its `pulumi up` as soon as `ready()` is true."""
    make = start_make(clone, "up")
    engine = engine_of(make)
    wait_for(what, ready, timeout)
    return kill_engine(make, engine, pending_custom_creates(clone))
