"""Which processes belong to which engine run, so none outlives it (issue #14, "Interruptions").

`pulumi` starts each plugin (the Python language host and the program it runs, the Kubernetes
provider, the policy analyzer and its Python) in a process group of its own, so neither a signal to
pulumi's group nor the death of pulumi reaches them. Killed with `kill -9`, pulumi leaves them
running: the language host stops at its next health check of the engine (every five minutes),
the Kubernetes provider was seen running half an hour later, the Python policy analyzer never
stops. What every plugin does inherit is pulumi's environment, so the
run that starts pulumi (commands.engine_run) marks it with MARKER: its own pid, that pid's start
time (pids are reused) and the project folder. A marked process whose run is gone is a leftover.

Linux only (/proc); elsewhere no process is found and nothing is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MARKER = "GPU_MODEL_PLATFORM_ENGINE_RUN"
PROC = Path("/proc")
# How long a plugin has to exit on SIGTERM before it gets SIGKILL.
TERM_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Marked:
    pid: int
    run: str
    """The MARKER value of the run that started it."""
    command: str


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return stat.rpartition(")")[2].split()[19]


def run_marker(project: Path, pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid} {start_time(pid)} {project.resolve()}"


def marker_project(run: str) -> Path:
    return Path(run.split(" ", 2)[2])


def run_alive(run: str) -> bool:
    pid, started, _ = run.split(" ", 2)
    return start_time(int(pid)) == started


def marked_processes() -> list[Marked]:
    """Every process whose environment carries MARKER (none where there is no /proc)."""
    found = []
    prefix = f"{MARKER}=".encode()
    for entry in PROC.glob("[0-9]*") if PROC.is_dir() else ():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        run = next((v[len(prefix) :] for v in environ if v.startswith(prefix)), None)
        if run is not None and int(entry.name) != os.getpid():
            command = " ".join(a.decode(errors="replace") for a in argv if a)
            found.append(Marked(int(entry.name), run.decode(errors="replace"), command))
    return found


def leftovers_of(project: Path) -> list[Marked]:
    """Marked processes of this project whose run has ended: plugins of a killed engine run."""
    project = project.resolve()
    return [
        p for p in marked_processes() if marker_project(p.run) == project and not run_alive(p.run)
    ]


def stop(processes: Iterable[Marked]) -> list[Marked]:
    """SIGTERM, then SIGKILL what is left after TERM_GRACE_SECONDS; returns those signalled."""
    signalled = []
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGTERM)
            signalled.append(process)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    remaining = list(signalled)
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if not gone(p.pid)]
        time.sleep(0.05)
    for process in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    return signalled


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie waiting for its parent."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def describe(processes: Iterable[Marked]) -> str:
    """`name (pid N)` for each, the name being the program's file name."""
    return ", ".join(f"{program_name(p.command)} (pid {p.pid})" for p in processes)


def program_name(command: str) -> str:
    """The plugin's name: `/bin/sh .../pulumi-analyzer-policy-python ...` is the analyzer's
    shim, `python -m pulumi.policy ...` its Python, `python .../pulumi-language-python-exec` the
    program."""
    words = command.split()
    if not words:
        return "?"
    names = [Path(w).name for w in words]
    if names[0] in ("sh", "bash") and len(names) > 1:
        return names[1]
    if names[0].startswith("python"):
        if "-m" in words:
            return f"python -m {words[words.index('-m') + 1]}"
        if len(names) > 1:
            return f"python {names[1]}"
    return names[0]
