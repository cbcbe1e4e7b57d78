"""Run a `pulumi` command while sampling /proc: peak RSS and CPU time of each process it starts.

The CLI starts the language host, which starts the Python program; the CLI also starts the
Kubernetes provider and, with a policy pack, the analyzer and its Python. A sampler thread walks
that tree every `interval` seconds and keeps, per process, its high-water RSS (VmHWM, exact
whatever the interval) and its CPU time (utime + stime, up to one interval short for a process
that ends between samples). The main thread blocks in wait(), so the wall time is exact.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.engine import LocalStack

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Kinds in the order the table shows them.
KINDS = ("cli", "language host", "program", "provider", "analyzer", "policy pack")


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except OSError:  # the process ended between listing and reading
        return None


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        text = _read(f"/proc/{pid}/task/{task}/children")
        if text:
            found += [int(child) for child in text.split()]
    return found


def kind_of(cmdline: list[str], parent_kind: str) -> str:
    """What a process is, from its command line (and its parent's kind, for interpreters)."""
    name = Path(cmdline[0]).name if cmdline else ""
    if name == "pulumi":
        return "cli"
    if name.startswith("pulumi-language-"):
        return "language host"
    if name.startswith("pulumi-resource-"):
        return "provider"
    if name.startswith("pulumi-analyzer-") or any("pulumi-analyzer-" in a for a in cmdline[:2]):
        return "analyzer"
    if any(arg.endswith("pulumi-language-python-exec") for arg in cmdline):
        return "program"
    if "pulumi.policy" in cmdline:
        return "policy pack"
    return parent_kind or name


_HWM = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


@dataclass
class ProcessStats:
    peak_rss_kib: dict[str, int] = field(default_factory=dict)
    """Largest high-water RSS of any one process of each kind."""
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """CPU time of all processes of each kind, added up."""


class Sampler:
    def __init__(self, root: int) -> None:
        self.root = root
        self._cmdlines: dict[int, str] = {}
        self._kinds: dict[int, str] = {}
        self._hwm: dict[int, int] = {}
        self._cpu: dict[int, float] = {}

    def sample(self) -> None:
        pending = [(self.root, "")]
        while pending:
            pid, parent_kind = pending.pop()
            cmdline = _read(f"/proc/{pid}/cmdline")
            status = _read(f"/proc/{pid}/status")
            stat = _read(f"/proc/{pid}/stat")
            if not cmdline or status is None or stat is None:
                continue
            if self._cmdlines.get(pid) != cmdline:
                # New, or it has just exec'd: before exec a child still shows its parent's
                # memory, which must not count as its own.
                self._cmdlines[pid] = cmdline
                self._kinds[pid] = kind_of(cmdline.rstrip("\0").split("\0"), parent_kind)
                self._hwm[pid] = 0
            match = _HWM.search(status)
            if match:
                self._hwm[pid] = max(self._hwm[pid], int(match.group(1)))
            fields = stat.rsplit(")", 1)[1].split()
            # After the command name: state is field 3, utime 14 and stime 15 (1-based).
            self._cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            pending += [(child, self._kinds[pid]) for child in children(pid)]

    def stats(self) -> ProcessStats:
        peak: dict[str, int] = defaultdict(int)
        cpu: dict[str, float] = defaultdict(float)
        for pid, kind in self._kinds.items():
            peak[kind] = max(peak[kind], self._hwm.get(pid, 0))
            cpu[kind] += self._cpu.get(pid, 0.0)
        return ProcessStats(peak_rss_kib=dict(peak), cpu_seconds=dict(cpu))


@dataclass(frozen=True)
class Run:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    stats: ProcessStats
    stack: str = ""
    """The stack it ran on."""


class CommandFailed(RuntimeError):
    pass


def run_sampled(
    stack: LocalStack,
    *args: str,
    env: dict[str, str] | None = None,
    interval: float = 0.1,
    check: bool = True,
) -> Run:
    """`pulumi <args> --stack <stack>` in the stack's project, as LocalStack.pulumi runs it (a
    models stack with its platform's config file)."""
    command = ["pulumi", "--non-interactive", *args, "--stack", stack.stack]
    if stack.config_file:
        command += ["--config-file", stack.config_file]
    return run_command_sampled(
        command, stack.project, env or stack.env, stack.stack, interval=interval, check=check
    )


def run_command_sampled(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    stack: str,
    interval: float = 0.1,
    check: bool = True,
) -> Run:
    """`command` in `cwd`, every process under it sampled (`make preview`: the CPU of the
    Makefile's own commands counts under the kind "make")."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err)
        sampler = Sampler(process.pid)
        done = threading.Event()

        def sample_until_done() -> None:
            while not done.is_set():
                sampler.sample()
                done.wait(interval)

        thread = threading.Thread(target=sample_until_done, daemon=True)
        thread.start()
        returncode = process.wait()
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
        out.seek(0)
        err.seek(0)
        run = Run(seconds, returncode, out.read(), err.read(), sampler.stats(), stack)
    if check and returncode != 0:
        raise CommandFailed(
            f"`{' '.join(command)}` in {cwd} exited {returncode}\n"
            f"stdout:\n{run.stdout[-4000:]}\nstderr:\n{run.stderr[-4000:]}"
        )
    return run


_SUMMARY = re.compile(r"^\s*[-+~<>]*\s*(\d+) to (\w+)", re.MULTILINE)
_UNCHANGED = re.compile(r"^\s*(\d+) unchanged", re.MULTILINE)


def planned_changes(stdout: str) -> dict[str, int]:
    """The `Resources:` summary of a preview: {"create": 86}, {"update": 2}, {} for none."""
    summary = stdout.rsplit("Resources:", 1)[-1]
    return {op: int(count) for count, op in _SUMMARY.findall(summary)}


_APPLIED = re.compile(r"^\s*[-+~<>]*\s*(\d+) (created|updated|deleted|replaced)$", re.MULTILINE)
_VERBS = {"created": "create", "updated": "update", "deleted": "delete", "replaced": "replace"}


def applied_changes(stdout: str) -> dict[str, int]:
    """The `Resources:` summary of an up: {"update": 10} for "~ 10 updated", {} for none."""
    summary = stdout.rsplit("Resources:", 1)[-1]
    return {_VERBS[verb]: int(count) for count, verb in _APPLIED.findall(summary)}


def unchanged(stdout: str) -> int:
    match = _UNCHANGED.search(stdout.rsplit("Resources:", 1)[-1])
    return int(match.group(1)) if match else 0
