"""How a fleet is laid out in stacks: the design dimension of bench/fleet_cost.py (issue #19).

The bench runs one scenario (bare preview, deploy, a one-model pull request, a fleet-wide change)
against a `Fleet`; a `Layout` makes two of them for each N: ours, and the engine's floor doing the
same work in the same stacks with trivial resources. Today's design is `single`: one stack holds
the platform and every model. A split design ("after": a platform stack and stacks per model or
per team) is another Layout whose fleets run the same steps over its stacks, orchestrated as
`make preview` / `make up` will orchestrate them; it is added with that design, and the same run
measures both.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bench.fleet import BUILDERS_MODULE, change_version, label_every_model, write_fleet
from bench.floor import create_floor_stack, floor_config
from bench.program import Composition, composition_of, time_program
from bench.sampling import Run, applied_changes, planned_changes, run_sampled
from tests.support.engine import ROOT, SKIP_CHECKPOINTS, LocalStack

# The policy pack as `make preview` and `make up` pass it (Makefile: POLICIES).
POLICY_PACK = ROOT / "policies"
POLICY_CONFIG = POLICY_PACK / "config" / "local.json"
PACK = ("--policy-pack", str(POLICY_PACK), "--policy-pack-config", str(POLICY_CONFIG))


@dataclass(frozen=True)
class Measure:
    """One step as a user waits for it: wall seconds, CPU seconds per process kind (added over
    every engine run of the step), the changes planned, and how many engine runs it took."""

    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    engine_runs: int = 1
    extra_seconds: float = 0.0
    """Of `seconds`, the part outside the engine (e.g. the PR summary's commands)."""

    @classmethod
    def of(cls, runs: Iterable[Run], seconds: float | None = None) -> Measure:
        """Runs one after the other (their wall times add up unless `seconds` says otherwise)."""
        runs = list(runs)
        cpu: dict[str, float] = {}
        changes: dict[str, int] = {}
        for run in runs:
            for kind, value in run.stats.cpu_seconds.items():
                cpu[kind] = cpu.get(kind, 0.0) + value
            found = planned_changes(run.stdout) or applied_changes(run.stdout)
            for op, count in found.items():
                changes[op] = changes.get(op, 0) + count
        wall = sum(run.seconds for run in runs) if seconds is None else seconds
        return cls(seconds=wall, cpu=cpu, changes=changes, engine_runs=len(runs))

    @property
    def changed(self) -> int:
        return sum(self.changes.values())


class Fleet(ABC):
    """A deployed (or deployable) fleet in some stacks, and the steps the bench times on it."""

    @property
    @abstractmethod
    def resources(self) -> int:
        """Resources in all its stacks, stacks included."""

    @abstractmethod
    def preview(self) -> Measure:
        """A bare preview of every stack, as the engine alone runs it (no pack, no diff)."""

    @abstractmethod
    def deploy(self) -> Measure:
        """The first deploy, the fast way (no preview, no pack, PULUMI_SKIP_CHECKPOINTS): what
        the steps below start from, not a figure the targets judge."""

    @abstractmethod
    def up(self, *, checkpoints: bool) -> Measure:
        """Apply what changed, as `make up` does (checkpoints: the engine's default per-step
        checkpoints; without: PULUMI_SKIP_CHECKPOINTS, only the final state written)."""

    @abstractmethod
    def pr_preview(self) -> Measure:
        """What a reviewer waits for after a change: `make preview`, or its floor."""

    @abstractmethod
    def state_bytes(self) -> int:
        """Bytes of the checkpoint files of all its stacks, as the backend stores them."""


class OurFleet(Fleet):
    @abstractmethod
    def change_one_model(self) -> None:
        """The edit of a rollback pull request: one model serves its other version."""

    @abstractmethod
    def change_every_model(self) -> None:
        """A fleet-wide change: a label added to every object of every model."""

    @abstractmethod
    def undo(self) -> None:
        """Back to the program as deployed (the edits above undone)."""

    @property
    @abstractmethod
    def composition(self) -> Composition:
        """What the program registers, by kind, for sizing the floor."""


class FloorFleet(Fleet):
    @abstractmethod
    def change(self, objects: int) -> None:
        """The floor's counterpart of a change of ours: that many objects updated in place."""


class Layout(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]

    @abstractmethod
    def ours(self, workdir: Path, size: int) -> OurFleet: ...

    @abstractmethod
    def floor(self, workdir: Path, composition: Composition) -> FloorFleet: ...


# ---------------------------------------------------------------------------------------------
# `single`: today's design


def _checkpoint_env(stack: LocalStack, checkpoints: bool) -> dict[str, str]:
    return stack.env if checkpoints else {**stack.env, **SKIP_CHECKPOINTS}


def _checkpoint_file(stack: LocalStack, project: str) -> Path:
    backend = Path(stack.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    return backend / ".pulumi" / "stacks" / project / f"{stack.stack}.json"


class SingleStackFleet(OurFleet):
    """Ours as today: the `local` stack of a project copy holding the platform and N models."""

    def __init__(self, workdir: Path, size: int) -> None:
        self.stack = LocalStack.create(workdir)
        self.names = write_fleet(self.stack.project, size)
        # In the copy's folder, as the engine runs it: a relative chartsDirectory (../shared/charts)
        # must resolve beside the copy, not beside this clone.
        with contextlib.chdir(self.stack.project):
            _, mocks = time_program(self.stack.project / "__main__.py", 1)
        self._composition = composition_of(mocks)
        self._edited: dict[Path, str] = {}

    @property
    def composition(self) -> Composition:
        return self._composition

    @property
    def resources(self) -> int:
        return self._composition.total

    def preview(self) -> Measure:
        return Measure.of([run_sampled(self.stack, "preview")])

    def up(self, *, checkpoints: bool) -> Measure:
        # `make up`: up with its own preview and the policy pack (Makefile: up).
        env = _checkpoint_env(self.stack, checkpoints)
        return Measure.of([run_sampled(self.stack, "up", "--yes", *PACK, env=env)])

    def deploy(self) -> Measure:
        env = _checkpoint_env(self.stack, checkpoints=False)
        return Measure.of([run_sampled(self.stack, "up", "--yes", "--skip-preview", env=env)])

    def pr_preview(self) -> Measure:
        return make_preview(self.stack, self.stack.project / "build")

    def state_bytes(self) -> int:
        return _checkpoint_file(self.stack, "gpu-model-platform").stat().st_size

    def _remember(self, path: Path) -> None:
        self._edited.setdefault(path, path.read_text())

    def change_one_model(self) -> None:
        name = self.names[len(self.names) // 2]
        self._remember(self.stack.project / "models" / name / "model.yaml")
        change_version(self.stack.project, name)

    def change_every_model(self) -> None:
        self._remember(self.stack.project / BUILDERS_MODULE)
        label_every_model(self.stack.project)

    def undo(self) -> None:
        for path, text in self._edited.items():
            path.write_text(text)
        self._edited.clear()


class SingleFloorFleet(FloorFleet):
    """The floor as one stack of as many resources (bench/floor.py)."""

    def __init__(self, workdir: Path, composition: Composition) -> None:
        self.composition = composition
        self.stack = create_floor_stack(workdir, composition)

    @property
    def resources(self) -> int:
        return self.composition.total

    def preview(self) -> Measure:
        return Measure.of([run_sampled(self.stack, "preview")])

    def up(self, *, checkpoints: bool) -> Measure:
        env = _checkpoint_env(self.stack, checkpoints)
        return Measure.of([run_sampled(self.stack, "up", "--yes", env=env)])

    def deploy(self) -> Measure:
        env = _checkpoint_env(self.stack, checkpoints=False)
        return Measure.of([run_sampled(self.stack, "up", "--yes", "--skip-preview", env=env)])

    def pr_preview(self) -> Measure:
        # The engine's part of what a reviewer waits for: a bare preview planning as many
        # changes; no pack, no diff, no summary (those are ours).
        return self.preview()

    def state_bytes(self) -> int:
        return _checkpoint_file(self.stack, "preview-floor").stat().st_size

    def change(self, objects: int) -> None:
        changed = floor_config(self.composition, changed=objects)["changed"]
        self.stack.pulumi("config", "set", "--plaintext", "changed", str(changed))


class SingleStack(Layout):
    name = "single"
    summary = "one stack per environment: the platform and every model (today's design)"

    def ours(self, workdir: Path, size: int) -> SingleStackFleet:
        return SingleStackFleet(workdir, size)

    def floor(self, workdir: Path, composition: Composition) -> SingleFloorFleet:
        return SingleFloorFleet(workdir, composition)


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (SingleStack(),)}


# ---------------------------------------------------------------------------------------------
# `make preview`, as the Makefile runs it


def make_preview(stack: LocalStack, build: Path) -> Measure:
    """What `make preview` runs, timed: one engine run (`preview --diff` with the policy pack,
    the event stream and the update plan saved), then the policy report and the PR summary made
    from them (Makefile: preview). Not included: `commands.recover --report-only` and the policy
    config check before it, two short Python runs that do not grow with the fleet."""
    build.mkdir(parents=True, exist_ok=True)
    events, plan, diff = build / "preview.jsonl", build / "plan.json", build / "preview.diff"
    for stale in (events, plan, diff):
        stale.unlink(missing_ok=True)
    env = {**stack.env, "PULUMI_DEBUG_COMMANDS": "true"}
    run = run_sampled(
        stack,
        "preview",
        "--diff",
        *PACK,
        "--event-log",
        str(events),
        "--save-plan",
        str(plan),
        env=env,
    )
    diff.write_text(run.stdout + run.stderr)
    summary = summarise(stack, events, plan, diff, build)
    measure = Measure.of([run])
    return Measure(
        seconds=run.seconds + summary,
        cpu=measure.cpu,
        changes=measure.changes,
        engine_runs=1,
        extra_seconds=summary,
    )


def summarise(stack: LocalStack, events: Path, plan: Path, diff: Path, build: Path) -> float:
    """Seconds of the policy report and the PR summary made from one preview's outputs."""
    commands = [
        [
            sys.executable,
            "-m",
            "commands.policy_report",
            str(events),
            "--stack",
            stack.stack,
            "--out",
            str(build / "policy-report.json"),
            "--policy-config",
            str(POLICY_CONFIG),
        ],
        [
            sys.executable,
            "-m",
            "commands.preview_summary",
            str(events),
            "--stack",
            stack.stack,
            "--diff",
            str(diff),
            "--out",
            str(build / "preview-summary.md"),
            "--plan",
            str(plan),
            "--policy-config",
            str(POLICY_CONFIG),
            "--fold-to-path",
        ],
    ]
    start = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(command[2:4])}` exited {done.returncode}:\n{done.stderr[-2000:]}"
            )
    return time.perf_counter() - start
