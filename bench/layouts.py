"""How a fleet is laid out in stacks: the design dimension of bench/fleet_cost.py (issue #19).

The bench runs one scenario (bare preview, deploy, a one-model pull request, a fleet-wide change)
against a `Fleet`; a `Layout` makes two of them for each N: ours, and the engine's floor doing the
same work in the same stacks with trivial resources. The designs:

- `single` (before): one stack holds the platform and every model;
- `split` (after, docs/fleet-scale.md): the platform stack `local` and models stacks of at most
  MODELS_PER_STACK models each (`local.models-shard-NN`), listed in the copy's stacks/local.yaml.

Ours runs the Makefile itself in its copy for what users wait for: `make preview
PREVIEW_SINCE=<ref>` (the stacks the change can affect, previewed side by side, and the fleet
summary) and `make up` (the state moves, the platform alone, then the models stacks two at a
time), which with one stack is one preview or one up with the commands around it. The floor's
stacks run the engine alone, in the same stacks and order.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlparse

import yaml

from bench.fleet import BUILDERS_MODULE, change_version, label_every_model, write_fleet
from bench.floor import PROJECT as FLOOR_PROJECT
from bench.floor import create_floor_stacks
from bench.program import Composition, composition_of, time_program
from bench.sampling import Run, applied_changes, planned_changes, run_command_sampled, run_sampled
from tests.support.engine import ROOT, SKIP_CHECKPOINTS, LocalStack
from tests.support.mocks import stack_config

# The policy pack as `make preview` and `make up` pass it (Makefile: POLICIES).
POLICY_PACK = ROOT / "policies"
POLICY_CONFIG = POLICY_PACK / "config" / "local.json"
PACK = ("--policy-pack", str(POLICY_PACK), "--policy-pack-config", str(POLICY_CONFIG))

PROJECT = "gpu-model-platform"
PLATFORM = "local"
# A models stack's name, as components/fleet/stacks.py makes it (the bench imports only test
# support, so it is spelt again here; a wrong name fails the first `pulumi stack init`).
MODELS_STACK = PLATFORM + ".models-{name}"
# The split design's shard size: components/fleet/stacks.py's default maxModelsPerStack, the
# balance of section 3 of docs/fleet-scale.md.
MODELS_PER_STACK = 10
# Models stacks run two at a time (Makefile: FLEET_MAKE, make -j2).
PARALLEL = 2


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
    by_stack: dict[str, int] = field(default_factory=dict)
    """Changes planned or applied in each stack, for the floor's counterpart of a change."""

    @classmethod
    def of(cls, runs: Iterable[Run], seconds: float | None = None) -> Measure:
        """Runs one after the other (their wall times add up unless `seconds` says otherwise)."""
        runs = list(runs)
        wall = sum(run.seconds for run in runs) if seconds is None else seconds
        return cls.joined([cls._of_run(run) for run in runs], wall)

    @classmethod
    def _of_run(cls, run: Run) -> Measure:
        changes = planned_changes(run.stdout) or applied_changes(run.stdout)
        return cls(
            seconds=run.seconds,
            cpu=dict(run.stats.cpu_seconds),
            changes=changes,
            by_stack={run.stack: sum(changes.values())},
        )

    @classmethod
    def joined(
        cls, measures: Sequence[Measure], seconds: float, extra_seconds: float = 0.0
    ) -> Measure:
        """The steps of one wait, side by side or one after the other: `seconds` is its wall
        time, `extra_seconds` what it spent outside the engine beyond the steps' own."""
        cpu: Counter[str] = Counter()
        changes: Counter[str] = Counter()
        by_stack: Counter[str] = Counter()
        for measure in measures:
            cpu.update(measure.cpu)
            changes.update(measure.changes)
            by_stack.update(measure.by_stack)
        return cls(
            seconds=seconds,
            cpu=dict(cpu),
            changes=dict(changes),
            engine_runs=sum(measure.engine_runs for measure in measures),
            extra_seconds=extra_seconds + sum(measure.extra_seconds for measure in measures),
            by_stack=dict(by_stack),
        )

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
    def compositions(self) -> dict[str, Composition]:
        """What the program registers in each stack (by name, platform first), by kind, for
        sizing the floor's stacks."""


class FloorFleet(Fleet):
    @abstractmethod
    def change(self, by_stack: Mapping[str, int]) -> None:
        """The floor's counterpart of a change of ours: as many objects updated in place in each
        stack of the same name (none in a stack not named)."""


class Layout:
    """A design: ours in its stacks for N models, and the floor in the same stacks."""

    def __init__(self, name: str, summary: str, per_stack: int | None) -> None:
        self.name = name
        self.summary = summary
        self.per_stack = per_stack
        """Models a models stack holds at most; None: every model in the platform stack."""

    def ours(self, workdir: Path, size: int) -> OurFleet:
        return OurStacks(workdir, size, self.per_stack)

    def floor(self, workdir: Path, compositions: Mapping[str, Composition]) -> FloorFleet:
        return FloorStacks(workdir, compositions)


# ---------------------------------------------------------------------------------------------
# Stacks, run as the Makefile runs them


def _checkpoint_env(stack: LocalStack, checkpoints: bool) -> dict[str, str]:
    return stack.env if checkpoints else {**stack.env, **SKIP_CHECKPOINTS}


def _checkpoint_file(stack: LocalStack, project: str) -> Path:
    backend = Path(unquote(urlparse(stack.env["PULUMI_BACKEND_URL"]).path))
    return backend / ".pulumi" / "stacks" / project / f"{stack.stack}.json"


def in_waves(
    waves: Sequence[Sequence[LocalStack]], step: Callable[[LocalStack], Measure]
) -> Measure:
    """`step` on every stack, wave after wave, the stacks of a wave two at a time as `make -j2`
    runs them; the wall time is from the first start to the last end."""
    start = time.perf_counter()
    measures: list[Measure] = []
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for wave in waves:
            measures += pool.map(step, wave)
    return Measure.joined(measures, time.perf_counter() - start)


def bare_preview(stack: LocalStack) -> Measure:
    return Measure.of([run_sampled(stack, "preview")])


class _Stacks(Fleet):
    """Stacks of one project and backend, the platform's first: a bare preview runs them all
    side by side, an up (as `make up`) the platform alone then the others two at a time."""

    project_name: ClassVar[str]
    up_flags: ClassVar[tuple[str, ...]]
    """What an `up` adds (ours: the policy pack, as `make up` runs it)."""

    def __init__(self, stacks: list[LocalStack], compositions: Mapping[str, Composition]) -> None:
        self.stacks = stacks
        self._compositions = dict(compositions)

    @property
    def resources(self) -> int:
        return sum(composition.total for composition in self._compositions.values())

    def _platform_first(self, *args: str, checkpoints: bool) -> Measure:
        def up(stack: LocalStack) -> Measure:
            env = _checkpoint_env(stack, checkpoints)
            return Measure.of([run_sampled(stack, "up", "--yes", *args, env=env)])

        return in_waves([self.stacks[:1], self.stacks[1:]], up)

    def preview(self) -> Measure:
        return in_waves([self.stacks], bare_preview)

    def deploy(self) -> Measure:
        return self._platform_first("--skip-preview", checkpoints=False)

    def up(self, *, checkpoints: bool) -> Measure:
        return self._platform_first(*self.up_flags, checkpoints=checkpoints)

    def state_bytes(self) -> int:
        return sum(_checkpoint_file(s, self.project_name).stat().st_size for s in self.stacks)


def shards(names: Sequence[str], per_stack: int | None) -> dict[str, list[str]]:
    """The models stacks of the split design: `names` in order, at most `per_stack` a stack
    (`shard-00`, `shard-01`, ...); none when `per_stack` is None (one stack holds them all)."""
    if per_stack is None:
        return {}
    return {
        f"shard-{index // per_stack:02d}": list(names[index : index + per_stack])
        for index in range(0, len(names), per_stack)
    }


def stacks_file(groups: Mapping[str, Sequence[str]]) -> str:
    """stacks/local.yaml assigning each group to its models stack (components/fleet/stacks.py)."""
    return yaml.safe_dump({"modelStacks": {k: list(v) for k, v in groups.items()}}, sort_keys=False)


# What `make preview` and `make up` run besides the program: the copy runs them as a user's
# clone does, with this clone's installed virtualenv linked in (its install stamp is newer than
# the copied requirements, so `make` installs nothing).
MAKE_FILES = (
    "Makefile",
    "toolchain",
    "policies",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-models.txt",
    "requirements-models-nodeps.txt",
)


def add_make(project: Path) -> None:
    for name in MAKE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    (project / ".venv").symlink_to(ROOT / ".venv")


def make_sampled(project: Path, env: dict[str, str], *arguments: str) -> Run:
    """`make ARGUMENTS` in the copy, every process under it sampled; fails on a failed make."""
    return run_command_sampled(["make", *arguments], project, env, PLATFORM)


_UPDATING = re.compile(r"^(?:Updating|Previewing update) \((?P<stack>[^)]+)\):$", re.MULTILINE)


def changes_by_stack(output: str) -> dict[str, dict[str, int]]:
    """What each engine run in the output of `make up` applied, by stack (its `Updating (STACK):`
    heading; `make up` runs the stacks with --output-sync, so each one's output is contiguous)."""
    found: dict[str, dict[str, int]] = {}
    headings = list(_UPDATING.finditer(output))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        if not heading.group(0).startswith("Updating"):
            continue
        section = output[heading.end() : following.start() if following else len(output)]
        found[heading.group("stack")] = applied_changes(section)
    return found


def _made(run: Run, changes: Mapping[str, Mapping[str, int]]) -> Measure:
    """One `make` run as a Measure: its wall time, the CPU of every process under it (the
    Makefile's own commands under "make"), the changes of each stack's engine run."""
    total: Counter[str] = Counter()
    for planned in changes.values():
        total.update(planned)
    return Measure(
        seconds=run.seconds,
        cpu=dict(run.stats.cpu_seconds),
        changes=dict(total),
        engine_runs=len(changes),
        by_stack={stack: sum(planned.values()) for stack, planned in changes.items()},
    )


def commit_copy(project: Path) -> None:
    """The copy as deployed, committed: `PREVIEW_SINCE=HEAD` is then the bench's edit alone
    (commands/fleet.py diffs the working tree against it), and ignores what the repository's
    .gitignore ignores (build output, caches)."""
    shutil.copy2(ROOT / ".gitignore", project / ".gitignore")
    identity = ("-c", "user.name=bench", "-c", "user.email=bench@localhost")
    for args in (("init", "-q"), ("add", "-A"), (*identity, "commit", "-q", "-m", "deployed")):
        subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True)


class OurStacks(_Stacks, OurFleet):
    """Ours in a project copy: the platform stack `local` holding the models no models stack
    holds, and the models stacks of `shards` (none: today's one stack)."""

    project_name = PROJECT

    def __init__(self, workdir: Path, size: int, per_stack: int | None) -> None:
        platform = LocalStack.create(workdir)
        self.names = write_fleet(platform.project, size)
        groups = shards(self.names, per_stack)
        stacks = [platform]
        if groups:
            (platform.project / "stacks").mkdir()
            (platform.project / "stacks" / f"{PLATFORM}.yaml").write_text(stacks_file(groups))
        for name in groups:
            # A models stack runs with its platform's config file (Makefile: PULUMI).
            stack = LocalStack(
                project=platform.project,
                env=platform.env,
                stack=MODELS_STACK.format(name=name),
                config_file=f"Pulumi.{PLATFORM}.yaml",
            )
            stack.pulumi("stack", "init", stack.stack, "--secrets-provider", "passphrase")
            stacks.append(stack)
        super().__init__(stacks, {stack.stack: self._registered(stack) for stack in stacks})
        add_make(platform.project)
        commit_copy(platform.project)
        self._edited: dict[Path, str] = {}

    @staticmethod
    def _registered(stack: LocalStack) -> Composition:
        """What the program registers in `stack`, under mocks; a models stack's reference to
        the platform reads no outputs (render mode needs none)."""
        # In the copy's folder, as the engine runs it: a relative chartsDirectory
        # (../shared/charts) must resolve beside the copy, not beside this clone.
        with contextlib.chdir(stack.project):
            _, mocks = time_program(
                stack.project / "__main__.py",
                1,
                config=stack_config(PLATFORM),
                stack=stack.stack,
                stack_outputs={f"organization/{PROJECT}/{PLATFORM}": {}},
            )
        return composition_of(mocks)

    @property
    def platform(self) -> LocalStack:
        return self.stacks[0]

    @property
    def compositions(self) -> dict[str, Composition]:
        return dict(self._compositions)

    def up(self, *, checkpoints: bool) -> Measure:
        """`make up` in the copy, as the deploy runs it: the state moves (none in the bench),
        then per stack the recovery check and the policy config, the engine's `up` with its
        preview and the policy pack; the platform first, then the models stacks two at a
        time."""
        env = _checkpoint_env(self.platform, checkpoints)
        run = make_sampled(self.platform.project, env, "up")
        applied = changes_by_stack(run.stdout)
        missing = {s.stack for s in self.stacks} - set(applied)
        if missing:
            ran = f"`make up` ran no engine on {sorted(missing)}"
            raise RuntimeError(f"{ran}:\n{run.stdout[-3000:]}")
        return _made(run, applied)

    def pr_preview(self) -> Measure:
        """`make preview PREVIEW_SINCE=HEAD` in the copy, what a reviewer waits for (Makefile:
        preview): which stacks the change can affect, then each of those previewed side by side
        (recovery report, policy config, the engine's preview with the pack, `--diff`, the
        event stream and the plan, policy report and summary), then, with models stacks, one
        summary of them all. The changes each stack planned are read from its diff."""
        build = self.platform.project / "build"
        project, env = self.platform.project, self.platform.env
        run = make_sampled(project, env, "preview", "PREVIEW_SINCE=HEAD")
        planned = {
            stack.stack: planned_changes(diff.read_text())
            for stack in self.stacks
            if (diff := build / f"preview-{stack.stack}.diff").is_file()
        }
        return _made(run, planned)

    def _remember(self, path: Path) -> None:
        self._edited.setdefault(path, path.read_text())

    def change_one_model(self) -> None:
        name = self.names[len(self.names) // 2]
        self._remember(self.platform.project / "models" / name / "model.yaml")
        change_version(self.platform.project, name)

    def change_every_model(self) -> None:
        self._remember(self.platform.project / BUILDERS_MODULE)
        label_every_model(self.platform.project)

    def undo(self) -> None:
        for path, text in self._edited.items():
            path.write_text(text)
        self._edited.clear()


class FloorStacks(_Stacks, FloorFleet):
    """The floor (bench/floor.py) in stacks named and sized like ours."""

    project_name = FLOOR_PROJECT
    up_flags = ()

    def __init__(self, workdir: Path, compositions: Mapping[str, Composition]) -> None:
        super().__init__(create_floor_stacks(workdir, dict(compositions)), compositions)
        self._changed = {stack.stack: 0 for stack in self.stacks}
        self._named = [stack.stack for stack in self.stacks]

    def pr_preview(self) -> Measure:
        # The engine's part of what a reviewer waits for: bare previews planning as many
        # changes, of the stacks ours previewed (those the change can affect), side by side; no
        # pack, no diff, no summary (those are ours).
        return in_waves([[s for s in self.stacks if s.stack in self._named]], bare_preview)

    def change(self, by_stack: Mapping[str, int]) -> None:
        self._named = list(by_stack)
        for stack in self.stacks:
            wanted = by_stack.get(stack.stack, 0)
            if wanted != self._changed[stack.stack]:
                stack.pulumi("config", "set", "--plaintext", "changed", str(wanted))
                self._changed[stack.stack] = wanted


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("single", "one stack: the platform and every model (today's design)", None),
        Layout(
            "split",
            f"the platform stack and models stacks of at most {MODELS_PER_STACK} models "
            "(stacks/local.yaml)",
            MODELS_PER_STACK,
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# `make preview`, as the Makefile runs it


def make_preview(stack: LocalStack, build: Path | None = None) -> Measure:
    """What `make preview-stack` runs, timed: one engine run (`preview --diff` with the policy
    pack, the event stream and the update plan saved), then the policy report and the PR summary
    made from them (Makefile: preview-stack), into `build` (default: the project's, with the
    Makefile's file names, which the fleet summary reads). Not included: `commands.recover
    --report-only` and the policy config check before it, two short Python runs that do not grow
    with the fleet."""
    build = build or stack.project / "build"
    build.mkdir(parents=True, exist_ok=True)
    name = stack.stack
    events, plan = build / f"preview-{name}.jsonl", build / f"plan-{name}.json"
    diff = build / f"preview-{name}.diff"
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
    return Measure.joined([Measure.of([run])], run.seconds + summary, extra_seconds=summary)


def python_module(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds and output of `python -m ARGS` in `cwd`, as the Makefile runs its commands."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args[:2])}` exited {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return time.perf_counter() - start, done.stdout


def summarise(stack: LocalStack, events: Path, plan: Path, diff: Path, build: Path) -> float:
    """Seconds of the policy report and the PR summary made from one preview's outputs."""
    name = stack.stack
    report, _ = python_module(
        ROOT,
        "commands.policy_report",
        str(events),
        "--stack",
        name,
        "--out",
        str(build / f"policy-report-{name}.json"),
        "--policy-config",
        str(POLICY_CONFIG),
    )
    summary, _ = python_module(
        ROOT,
        "commands.preview_summary",
        str(events),
        "--stack",
        name,
        "--diff",
        str(diff),
        "--out",
        str(build / f"preview-summary-{name}.md"),
        "--plan",
        str(plan),
        "--policy-config",
        str(POLICY_CONFIG),
        "--fold-to-path",
    )
    return report + summary
