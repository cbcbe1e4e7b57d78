"""What users wait for as the fleet grows, per design of its stacks (issue #19).

For each design (bench/layouts.py: `single`, today's one stack; `split`, a platform stack and
models stacks of ten models) and each fleet size N, ours and the engine's floor (the same stacks
holding as many trivial resources, bench/floor.py) go through the same steps, each run on every
stack of the design as the Makefile orchestrates them, interleaved so that drift of the machine
hits both alike:

1. bare preview of every stack, before anything is deployed (all creates): ours / floor;
2. deploy, the fast way (PULUMI_SKIP_CHECKPOINTS, no pack), and a preview after it that must
   plan no change; the size of the state files;
3. a one-model pull request (one model serves its other version): `make preview` as the
   Makefile runs it (one engine run with the policy pack, `--diff`, the event stream and the
   plan, then the policy report and the PR summary), against the floor's bare preview planning
   as many changes;
4. a fleet-wide change (a label added to every object of every model) applied as
   `make up` applies it (up with its preview and the pack) with the engine's default per-step
   checkpoints, against the floor's `up` of as many updates with checkpoints; and, beside both,
   the same `up` with PULUMI_SKIP_CHECKPOINTS, so the checkpoints' own cost shows.

The floor of step 4 is an *update* of as many objects on an already deployed floor stack of as
many resources: not a first deploy. How to read the output: bench/README.md.

    .venv/bin/python bench/fleet_cost.py                           # `make bench-fleet`
    .venv/bin/python bench/fleet_cost.py --sizes 1,10 --fleet-up 1,10   # a quick look
    .venv/bin/python bench/fleet_cost.py --sizes 10,100 --fleet-up 10 --fleet-up split:10,100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import figures  # noqa: E402
from bench.figures import MAX_GROWTH, fmt_s, growth, median, verdict  # noqa: E402
from bench.layouts import LAYOUTS, FloorFleet, Layout, Measure, OurFleet  # noqa: E402

DEFAULT_SIZES = (10, 100, 200)
KEY_SIZE = 100
# Targets of issue #19, at N=KEY_SIZE.
MAX_PR_SECONDS = 10.0
MAX_FLEET_UP_FLOOR_RATIO = 2.0
MAX_FLEET_UP_SECONDS = 120.0
MAX_PREVIEW_FLOOR_RATIO = 1.3


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Pair:
    """The same step, ours and the floor's, over the runs."""

    ours: list[Measure] = field(default_factory=list)
    floor: list[Measure] = field(default_factory=list)

    def ratio(self) -> float | None:
        """Ours over the floor (medians); None when either was not measured."""
        if not self.ours or not self.floor:
            return None
        return median(seconds(self.ours)) / median(seconds(self.floor))


@dataclass
class Result:
    design: str
    size: int
    resources: int
    state_bytes: tuple[int, int] = (0, 0)
    """Checkpoint files after the deploy: ours, floor."""
    preview: Pair = field(default_factory=Pair)
    deploy: Pair = field(default_factory=Pair)
    second: list[Measure] = field(default_factory=list)
    pull_request: Pair = field(default_factory=Pair)
    fleet_up: Pair = field(default_factory=Pair)
    """Fleet-wide change applied with per-step checkpoints."""
    fleet_up_skip: Pair = field(default_factory=Pair)
    """The same with PULUMI_SKIP_CHECKPOINTS."""


def seconds(measures: Sequence[Measure]) -> list[float]:
    return [measure.seconds for measure in measures]


def median_s(measures: Sequence[Measure]) -> float | None:
    """Median seconds, or None for a step not measured (not run at this size, or cut short)."""
    return median(seconds(measures)) if measures else None


def expect(measure: Measure, changes: dict[str, int], what: str) -> None:
    if measure.changes != changes:
        raise RuntimeError(f"{what}: expected {changes}, the engine reported {measure.changes}")


def fleet_wide(ours: OurFleet, floor: FloorFleet, result: Result) -> None:
    """Step 4: the fleet-wide change, without then with per-step checkpoints, ours and floor."""
    ours.change_every_model()
    skipped = ours.up(checkpoints=False)
    if not skipped.changed or set(skipped.changes) != {"update"}:
        raise RuntimeError(f"fleet-wide change: expected updates only, got {skipped.changes}")
    floor.change(skipped.by_stack)
    result.fleet_up_skip.ours.append(skipped)
    result.fleet_up_skip.floor.append(floor.up(checkpoints=False))
    expect(result.fleet_up_skip.floor[-1], skipped.changes, "floor's fleet-wide up")
    # Back to the deployed state, then the same change with checkpoints.
    ours.undo()
    floor.change({})
    expect(ours.deploy(), skipped.changes, "undoing the fleet-wide change")
    expect(floor.deploy(), skipped.changes, "undoing the floor's change")
    ours.change_every_model()
    floor.change(skipped.by_stack)
    result.fleet_up.ours.append(ours.up(checkpoints=True))
    expect(result.fleet_up.ours[-1], skipped.changes, "fleet-wide up with checkpoints")
    result.fleet_up.floor.append(floor.up(checkpoints=True))
    expect(result.fleet_up.floor[-1], skipped.changes, "floor's fleet-wide up with checkpoints")


def measure(
    layout: Layout,
    size: int,
    workdir: Path,
    into: list[Result],
    *,
    runs: int,
    pr_runs: int,
    fleet_up: bool,
) -> None:
    """The steps for one design and N; its Result joins `into` before the first step, so that
    what was measured is kept if a later step fails."""
    say(f"{layout.name} N={size}: fleet, floor")
    ours = layout.ours(workdir / "ours", size)
    floor = layout.floor(workdir / "floor", ours.compositions)
    result = Result(design=layout.name, size=size, resources=ours.resources)
    into.append(result)
    creates = {"create": ours.resources}

    say(f"{layout.name} N={size}: bare preview of {ours.resources} resources, ours and floor")
    for _ in range(runs):
        result.preview.ours.append(ours.preview())
        expect(result.preview.ours[-1], creates, "bare preview")
        result.preview.floor.append(floor.preview())
        expect(result.preview.floor[-1], creates, "floor's bare preview")

    say(f"{layout.name} N={size}: deploy (no checkpoints), preview after it")
    result.deploy.ours.append(ours.deploy())
    result.deploy.floor.append(floor.deploy())
    result.state_bytes = (ours.state_bytes(), floor.state_bytes())
    result.second.append(ours.preview())

    say(f"{layout.name} N={size}: one-model pull request, `make preview` and floor")
    ours.change_one_model()
    for _ in range(pr_runs):
        result.pull_request.ours.append(ours.pr_preview())
        floor.change(result.pull_request.ours[-1].by_stack)
        result.pull_request.floor.append(floor.pr_preview())
    ours.undo()
    floor.change({})

    if fleet_up:
        say(f"{layout.name} N={size}: fleet-wide change, up without and with checkpoints")
        fleet_wide(ours, floor, result)


# ---------------------------------------------------------------------------------------------
# The table


def pair_s(pair: Pair) -> str:
    ratio = pair.ratio()
    if ratio is None:
        return "-"
    return f"{fmt_s(seconds(pair.ours))} / {fmt_s(seconds(pair.floor))} = {ratio:.2f}x"


def changes_of(measures: Sequence[Measure]) -> str:
    counts = sorted({measure.changed for measure in measures})
    return "/".join(map(str, counts)) if counts else "-"


def cpu_of(measures: Sequence[Measure]) -> str:
    if not measures:
        return "-"
    kinds = ("cli", "program", "provider", "analyzer", "policy pack")
    values = [median([m.cpu.get(kind, 0.0) for m in measures]) for kind in kinds]
    return "/".join(f"{value:.1f}" for value in values)


def per_change_ms(checkpointed: Sequence[Measure], skipped: Sequence[Measure]) -> str:
    """What the checkpoints added to the fleet-wide up, per resource changed."""
    if not checkpointed or not skipped:
        return "-"
    changed = checkpointed[0].changed
    extra = median(seconds(checkpointed)) - median(seconds(skipped))
    return f"{extra * 1000 / changed:.0f}" if changed else "-"


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("design", lambda r: r.design),
    ("N", lambda r: str(r.size)),
    ("res", lambda r: str(r.resources)),
    ("state KiB", lambda r: "/".join(f"{b / 1024:.0f}" for b in r.state_bytes)),
    ("bare preview s", lambda r: pair_s(r.preview)),
    ("2nd chg", lambda r: changes_of(r.second)),
    ("PR preview s", lambda r: pair_s(r.pull_request)),
    ("PR chg", lambda r: changes_of(r.pull_request.ours)),
    (
        "PR make CPU s",
        lambda r: (
            f"{median([m.cpu.get('make', 0.0) for m in r.pull_request.ours]):.1f}"
            if r.pull_request.ours
            else "-"
        ),
    ),
    ("fleet chg", lambda r: changes_of(r.fleet_up.ours)),
    ("fleet up s (ckpt)", lambda r: pair_s(r.fleet_up)),
    ("fleet up s (no ckpt)", lambda r: pair_s(r.fleet_up_skip)),
    (
        "ckpt ms/chg",
        lambda r: (
            f"{per_change_ms(r.fleet_up.ours, r.fleet_up_skip.ours)}/"
            f"{per_change_ms(r.fleet_up.floor, r.fleet_up_skip.floor)}"
        ),
    ),
    ("fleet up CPU s cli/prog/prov/anl/pack", lambda r: cpu_of(r.fleet_up.ours)),
    ("same, no ckpt", lambda r: cpu_of(r.fleet_up_skip.ours)),
    (
        "floor CLI CPU s ckpt/no",
        lambda r: (
            f"{cpu_of(r.fleet_up.floor).split('/')[0]}/"
            f"{cpu_of(r.fleet_up_skip.floor).split('/')[0]}"
        ),
    ),
    ("PR CPU s", lambda r: cpu_of(r.pull_request.ours)),
]


def table(results: Sequence[Result]) -> str:
    return figures.table(COLUMNS, results)


# ---------------------------------------------------------------------------------------------
# Verdicts


def judged(results: Sequence[Result], figure: Callable[[Result], float | None]) -> str:
    """`figure` at the key size, or why it is not judged."""
    found = {r.size: figure(r) for r in results}
    measured = {size: value for size, value in found.items() if value is not None}
    if KEY_SIZE in measured:
        return ""
    shown = ", ".join(f"N={size}: {value:.2f}" for size, value in sorted(measured.items()))
    return f"not judged (N={KEY_SIZE} not measured{'; ' + shown if shown else ''})"


def target(
    label: str,
    results: Sequence[Result],
    figure: Callable[[Result], float | None],
    ok: Callable[[float], bool],
    unit: str,
) -> str:
    missing = judged(results, figure)
    if missing:
        return f"target: {label}: {missing}"
    value = next(figure(r) for r in results if r.size == KEY_SIZE)
    assert value is not None
    return f"target: {label}: {value:.2f}{unit} at N={KEY_SIZE}, {verdict(ok(value))}"


def verdicts(design: str, results: Sequence[Result]) -> list[str]:
    def fleet(r: Result) -> float | None:
        return median_s(r.fleet_up.ours)

    lines = [
        target(
            f"[{design}] PR preview <= {MAX_PR_SECONDS:.0f} s",
            results,
            lambda r: median_s(r.pull_request.ours),
            lambda v: v <= MAX_PR_SECONDS,
            " s",
        ),
        target(
            f"[{design}] checkpointed fleet-wide up <= {MAX_FLEET_UP_FLOOR_RATIO:.0f}x floor",
            results,
            lambda r: r.fleet_up.ratio(),
            lambda v: v <= MAX_FLEET_UP_FLOOR_RATIO,
            "x",
        ),
        target(
            f"[{design}] checkpointed fleet-wide up <= {MAX_FLEET_UP_SECONDS:.0f} s",
            results,
            fleet,
            lambda v: v <= MAX_FLEET_UP_SECONDS,
            " s",
        ),
        target(
            f"[{design}] bare preview <= {MAX_PREVIEW_FLOOR_RATIO}x floor",
            results,
            lambda r: r.preview.ratio(),
            lambda v: v <= MAX_PREVIEW_FLOOR_RATIO,
            "x",
        ),
    ]
    for label, figure in (
        ("PR preview", lambda r: median_s(r.pull_request.ours)),
        ("checkpointed fleet-wide up", fleet),
        ("bare preview", lambda r: median_s(r.preview.ours)),
    ):
        points = [(r.size, value) for r in results if (value := figure(r)) is not None]
        factor = growth(points)
        shown = "n/a (needs 3 sizes >= 10)" if factor is None else f"{factor:.2f}"
        judged_as = "not judged" if factor is None else verdict(factor <= MAX_GROWTH)
        lines.append(
            f"target: [{design}] linear in N, {label}: cost of a model in the last step / first "
            f"step = {shown}, {judged_as}"
        )
    second = {r.size: max(m.changed for m in r.second) for r in results if r.second}
    lines.append(
        f"guarantee: [{design}] a preview right after up plans 0 changes: "
        f"{verdict(not any(second.values()))} ({second})"
    )
    return lines


def parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def fleet_up_sizes(
    specs: Sequence[str] | None, designs: Sequence[str], sizes: Sequence[int]
) -> dict[str, set[int]]:
    """The sizes at which each design applies the fleet-wide change, from `--fleet-up` values:
    `SIZES` for every design, `DESIGN:SIZES` for one (the later value wins); none given: every
    size. A checkpointed up of today's single stack is the slow one (about 25 minutes at N=100),
    so a run can take it at fewer sizes than the split design's."""
    chosen = {design: set(sizes) for design in designs}
    if specs:
        chosen = {design: set() for design in designs}
        for spec in specs:
            design, _, text = spec.rpartition(":")
            for name in [design] if design else designs:
                if name not in chosen:
                    raise ValueError(f"--fleet-up {spec}: {name!r} is not among --designs")
                chosen[name] = set(parse_sizes(text))
    return chosen


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--designs",
        type=lambda text: text.split(","),
        default=list(LAYOUTS),
        help="layouts of the fleet in stacks, comma-separated (default: all): "
        + "; ".join(f"{layout.name}: {layout.summary}" for layout in LAYOUTS.values()),
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="fleet sizes N, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--fleet-up",
        action="append",
        metavar="[DESIGN:]SIZES",
        help="sizes at which the fleet-wide change is applied, with and without checkpoints, "
        "for every design or, with DESIGN:, for one; repeatable, e.g. --fleet-up 10 "
        "--fleet-up split:10,100 (default: every size; the single stack's checkpointed up is "
        "about 25 minutes at N=100, most of an hour at N=200)",
    )
    parser.add_argument("--runs", type=int, default=2, help="bare previews (default: 2)")
    parser.add_argument("--pr-runs", type=int, default=1, help="PR previews (default: 1)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", type=Path, help="also write every measure to this file")
    args = parser.parse_args(argv)
    unknown = [name for name in args.designs if name not in LAYOUTS]
    if unknown:
        parser.error(f"--designs: unknown {unknown}; the designs are: {', '.join(LAYOUTS)}")
    try:
        args.fleet_up = fleet_up_sizes(args.fleet_up, args.designs, args.sizes)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    sizes = sorted(set(args.sizes))
    fleet_up: dict[str, set[int]] = args.fleet_up
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="fleet-cost-"))
    ups = "; ".join(f"{name} at {sorted(fleet_up[name])}" for name in args.designs)
    say(f"designs {args.designs}, sizes {sizes}, fleet-wide up: {ups}; {work}")
    results: dict[str, list[Result]] = {name: [] for name in args.designs}
    failures: list[str] = []
    try:
        for size in sizes:  # sizes outside, designs inside: drift hits every design alike
            for name in args.designs:
                folder = work / f"{name}-n{size}"
                try:
                    measure(
                        LAYOUTS[name],
                        size,
                        folder,
                        results[name],
                        runs=args.runs,
                        pr_runs=args.pr_runs,
                        fleet_up=size in fleet_up[name],
                    )
                except Exception as error:  # the other designs and sizes are still worth having
                    say(f"{name} N={size} FAILED:\n{traceback.format_exc()}")
                    failures.append(f"failed: {name} N={size}: {str(error)[:300]}")
                # So far, for a run cut short: the table as it stands.
                say("\n" + table([r for n in args.designs for r in results[n]]))
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"fleet cost: designs {','.join(args.designs)}; sizes {','.join(map(str, sizes))}; "
        f"runs {args.runs} (bare preview), {args.pr_runs} (PR), 1 (fleet up); "
        f"{os.cpu_count()} CPUs"
    )
    print(table([r for name in args.designs for r in results[name]]))
    for name in args.designs:
        for line in verdicts(name, results[name]):
            print(line)
    for line in failures:
        print(line)
    print(f"elapsed: {(time.perf_counter() - started) / 60:.1f} min")
    if args.json:
        every = [asdict(r) for name in args.designs for r in results[name]]
        args.json.write_text(json.dumps(every, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
