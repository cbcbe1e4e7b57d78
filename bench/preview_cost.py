"""What a preview costs as the fleet grows, measured against the engine's own floor (issue #9).

For each fleet size N it generates N synthetic models (valid specs, passing gate records, no
TensorFlow) in a private copy of the project (tests.support.engine.LocalStack), and measures,
each over --runs runs: the program alone under mocks; preview, up, a second preview (must plan 0
changes) and an incremental preview (one model's version changed) of the `local` stack in render
mode; the same incremental preview as `make preview` runs it (--diff, policy pack); and the
preview of a trivial program registering as many resources (bench/floor.py). Peak RSS and CPU time
per process are sampled from /proc during the previews. How to read the table: bench/README.md.

    .venv/bin/python bench/preview_cost.py                      # what `make bench` runs
    .venv/bin/python bench/preview_cost.py --sizes 1,10 --runs 1  # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import figures  # noqa: E402
from bench.figures import MAX_GROWTH, fmt_s, growth, median, slope, verdict  # noqa: E402
from bench.fleet import change_version, write_fleet  # noqa: E402
from bench.floor import create_floor_stack, floor_config, write_floor_program  # noqa: E402
from bench.layouts import POLICY_PACK, make_preview  # noqa: E402
from bench.program import (  # noqa: E402
    Composition,
    composition_of,
    time_program,
    time_replay,
    warm_up,
)
from bench.sampling import KINDS, Run, planned_changes, run_sampled  # noqa: E402
from tests.support.engine import LocalStack, engine_env  # noqa: E402
from tests.support.mocks import stack_config  # noqa: E402

DEFAULT_SIZES = (1, 10, 50, 100, 200)
KEY_SIZE = 100
# Targets of issue #9.
MAX_FLOOR_RATIO = 1.3
MAX_PROGRAM_MS_PER_MODEL = 10.0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Runs:
    """How many times each measurement runs (see bench/README.md, "Repetitions")."""

    main: int
    """Program under mocks, preview and floor preview: the key figures."""
    other: int
    """Second preview and incremental preview."""
    once: int = 1
    """Up, `make preview`, the floor's and the replay's program under mocks."""


@dataclass
class SizeResult:
    size: int
    composition: Composition
    program: list[float] = field(default_factory=list)
    floor_program: list[float] = field(default_factory=list)
    replay_program: list[float] = field(default_factory=list)
    preview: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)
    up: list[Run] = field(default_factory=list)
    second: list[Run] = field(default_factory=list)
    incremental: list[Run] = field(default_factory=list)
    pull_request: list[float] = field(default_factory=list)
    """Seconds of `make preview` after the version change (bench.layouts.make_preview)."""
    up_checkpointed: Run | None = None
    floor_up_checkpointed: Run | None = None


def seconds(runs: Sequence[Run]) -> list[float]:
    return [run.seconds for run in runs]


def expect_creates(run: Run, count: int, what: str) -> None:
    planned = planned_changes(run.stdout)
    if planned != {"create": count}:
        raise RuntimeError(f"{what}: expected {count} creates, the preview planned {planned}")


def key_size(sizes: Sequence[int]) -> int:
    """The size the key figures are given at: N=100, or the largest measured."""
    return KEY_SIZE if KEY_SIZE in sizes else max(sizes)


def measure_size(
    size: int, runs: Runs, workdir: Path, *, replay: bool, checkpointed: bool
) -> SizeResult:
    say(f"N={size}: fleet; program, floor program and replay under mocks")
    ours = LocalStack.create(workdir / "ours")
    names = write_fleet(ours.project, size)
    # In the copy's folder, as the engine runs it: a relative chartsDirectory (../shared/charts)
    # must resolve beside the copy, not beside this clone, or mocks and engine count differently.
    with contextlib.chdir(ours.project):
        program, mocks = time_program(ours.project / "__main__.py", runs.main)
    composition = composition_of(mocks)
    result = SizeResult(size=size, composition=composition, program=program)
    if replay:
        result.replay_program = time_replay(mocks, runs.once)
    floor = create_floor_stack(workdir / "floor", composition)
    result.floor_program, floor_mocks = time_program(
        floor.project / "__main__.py", runs.once, config=floor_config(composition)
    )
    if composition_of(floor_mocks).total != composition.total:
        raise RuntimeError(f"floor registers {composition_of(floor_mocks)}, ours {composition}")

    say(f"N={size}: preview and floor preview of {composition.total} resources")
    for _ in range(runs.main):  # interleaved, so that drift of the machine hits both alike
        result.preview.append(run_sampled(ours, "preview"))
        expect_creates(result.preview[-1], composition.total, "preview")
        result.floor.append(run_sampled(floor, "preview"))
        expect_creates(result.floor[-1], composition.total, "floor preview")

    say(f"N={size}: up (PULUMI_SKIP_CHECKPOINTS), second preview")
    skip = {**ours.env, "PULUMI_SKIP_CHECKPOINTS": "true"}
    result.up = [run_sampled(ours, "up", "--yes", "--skip-preview", env=skip)]
    result.second = [run_sampled(ours, "preview") for _ in range(runs.other)]

    say(f"N={size}: one model's version changed: preview, and `make preview`")
    change_version(ours.project, names[size // 2])
    result.incremental = [run_sampled(ours, "preview") for _ in range(runs.other)]
    if POLICY_PACK.is_dir():
        build = ours.project / "build"
        result.pull_request = [make_preview(ours, build).seconds for _ in range(runs.once)]

    if checkpointed:
        say(f"N={size}: up with the engine's per-step checkpoints, ours and floor")
        fresh = LocalStack.create(workdir / "ours-checkpointed")
        write_fleet(fresh.project, size)
        result.up_checkpointed = run_sampled(fresh, "up", "--yes", "--skip-preview")
        fresh_floor = create_floor_stack(workdir / "floor-checkpointed", composition)
        result.floor_up_checkpointed = run_sampled(fresh_floor, "up", "--yes", "--skip-preview")
    return result


# ---------------------------------------------------------------------------------------------
# The table


def fmt_ms(values: Sequence[float]) -> str:
    if not values:
        return "-"
    mid, half = median(values) * 1000, (max(values) - min(values)) * 500
    return f"{mid:.0f}±{half:.0f}"


def fmt_changes(runs: Sequence[Run]) -> str:
    counts = {sum(planned_changes(run.stdout).values()) for run in runs}
    return "/".join(str(count) for count in sorted(counts)) if counts else "-"


def peak_mib(runs: Sequence[Run], kind: str) -> str:
    peaks = [run.stats.peak_rss_kib.get(kind, 0) for run in runs]
    return f"{max(peaks) / 1024:.0f}" if any(peaks) else "-"


def cpu_s(runs: Sequence[Run], kind: str) -> str:
    values = [run.stats.cpu_seconds.get(kind, 0.0) for run in runs]
    return f"{median(values):.1f}" if values else "-"


COLUMNS: list[tuple[str, Callable[[SizeResult], str]]] = [
    ("N", lambda r: str(r.size)),
    ("res", lambda r: str(r.composition.total)),
    ("program ms", lambda r: fmt_ms(r.program)),
    ("ms/model", lambda r: f"{median(r.program) * 1000 / r.size:.1f}"),
    ("replay ms", lambda r: fmt_ms(r.replay_program)),
    ("floor prog ms", lambda r: fmt_ms(r.floor_program)),
    ("preview s", lambda r: fmt_s(seconds(r.preview))),
    ("floor s", lambda r: fmt_s(seconds(r.floor))),
    ("ratio", lambda r: f"{median(seconds(r.preview)) / median(seconds(r.floor)):.2f}"),
    ("up s", lambda r: fmt_s(seconds(r.up))),
    ("2nd s", lambda r: fmt_s(seconds(r.second))),
    ("2nd chg", lambda r: fmt_changes(r.second)),
    ("incr s", lambda r: fmt_s(seconds(r.incremental))),
    ("incr chg", lambda r: fmt_changes(r.incremental)),
    ("PR s", lambda r: fmt_s(r.pull_request)),
    (
        "ckpt up s",
        lambda r: (
            f"{r.up_checkpointed.seconds:.1f}/{r.floor_up_checkpointed.seconds:.1f}"
            if r.up_checkpointed and r.floor_up_checkpointed
            else "-"
        ),
    ),
    (
        "RSS MiB cli/host/prog/prov",
        lambda r: "/".join(
            peak_mib(r.preview, kind) for kind in ("cli", "language host", "program", "provider")
        ),
    ),
    (
        "CPU s cli/prog/prov",
        lambda r: "/".join(cpu_s(r.preview, kind) for kind in ("cli", "program", "provider")),
    ),
    (
        "floor CPU s",
        lambda r: "/".join(cpu_s(r.floor, kind) for kind in ("cli", "program", "provider")),
    ),
]


def table(results: Sequence[SizeResult]) -> str:
    return figures.table(COLUMNS, results)


# ---------------------------------------------------------------------------------------------
# Verdicts


def report(results: Sequence[SizeResult], elapsed: float) -> list[str]:
    key = next(r for r in results if r.size == key_size([r.size for r in results]))
    ratio = median(seconds(key.preview)) / median(seconds(key.floor))
    program_points = [(r.size, median(r.program)) for r in results]
    program_slope_ms = slope(program_points) * 1000
    lines = [
        f"target: preview <= {MAX_FLOOR_RATIO}x floor at N={key.size}: {ratio:.2f}x, "
        f"{verdict(ratio <= MAX_FLOOR_RATIO)}",
        f"target: program <= {MAX_PROGRAM_MS_PER_MODEL:.0f} ms per model (least-squares slope "
        f"under mocks): {program_slope_ms:.1f} ms, "
        f"{verdict(program_slope_ms <= MAX_PROGRAM_MS_PER_MODEL)}",
    ]
    for label, points in (
        ("program", program_points),
        ("preview", [(r.size, median(seconds(r.preview))) for r in results]),
        ("floor preview", [(r.size, median(seconds(r.floor))) for r in results]),
        ("incremental preview", [(r.size, median(seconds(r.incremental))) for r in results]),
    ):
        factor = growth(points)
        shown = "n/a (needs 3 sizes >= 10)" if factor is None else f"{factor:.2f}"
        ok = factor is None or factor <= MAX_GROWTH
        lines.append(
            f"target: linear in N, {label}: cost of a model in the last step / first step "
            f"= {shown}, {verdict(ok) if factor is not None else 'not judged'}"
        )
    second = {
        r.size: max(sum(planned_changes(run.stdout).values()) for run in r.second) for r in results
    }
    lines.append(
        "target: second preview plans 0 changes at every N: "
        f"{verdict(not any(second.values()))} ({second})"
    )
    per_model = 1000 / key.size
    program = median(key.program) * per_model
    if key.replay_program:
        replay = median(key.replay_program) * per_model
        lines.append(
            f"program at N={key.size} under mocks, per model: {program:.1f} ms = our own code "
            f"{program - replay:.1f} ms + the SDK registering our objects {replay:.1f} ms "
            f"(replay); the SDK on as many tiny objects: "
            f"{median(key.floor_program) * per_model:.1f} ms (floor)"
        )
    for label, runs in (("preview", key.preview), ("second preview", key.second)):
        cpu = {k: median([r.stats.cpu_seconds.get(k, 0.0) for r in runs]) for k in KINDS}
        lines.append(
            f"{label} at N={key.size}: {median(seconds(runs)):.1f} s wall; CPU: program "
            f"{cpu['program']:.1f} s, CLI {cpu['cli']:.1f} s, provider {cpu['provider']:.1f} s, "
            f"language host {cpu['language host']:.1f} s"
        )
    floor_cpu = {k: median([r.stats.cpu_seconds.get(k, 0.0) for r in key.floor]) for k in KINDS}
    lines.append(
        f"floor preview at N={key.size}: {median(seconds(key.floor)):.1f} s wall; CPU: program "
        f"{floor_cpu['program']:.1f} s, CLI {floor_cpu['cli']:.1f} s, provider "
        f"{floor_cpu['provider']:.1f} s"
    )
    checkpointed = [r for r in results if r.up_checkpointed and r.floor_up_checkpointed]
    for r in checkpointed:
        assert r.up_checkpointed and r.floor_up_checkpointed
        lines.append(
            f"up at N={r.size} with per-step checkpoints: {r.up_checkpointed.seconds:.1f} s "
            f"(floor {r.floor_up_checkpointed.seconds:.1f} s) vs {median(seconds(r.up)):.1f} s "
            "with PULUMI_SKIP_CHECKPOINTS"
        )
    lines.append(f"elapsed: {elapsed / 60:.1f} min")
    lines.append(
        f"KEY N={key.size}: preview {median(seconds(key.preview)):.2f} s, "
        f"{ratio:.2f}x engine floor ({median(seconds(key.floor)):.2f} s); "
        f"program {program_slope_ms:.1f} ms/model"
        + (f"; `make preview` {median(key.pull_request):.1f} s" if key.pull_request else "")
    )
    return lines


def versions() -> str:
    cli = subprocess.run(
        ["pulumi", "version"], env=engine_env(ROOT), capture_output=True, text=True, check=False
    ).stdout.strip()
    packages = ", ".join(f"{name} {version(name)}" for name in ("pulumi", "pulumi-kubernetes"))
    return f"CLI {cli}, SDK {packages}, Python {platform.python_version()}"


def heading(sizes: Sequence[int], runs: Runs) -> str:
    return (
        f"preview cost, sizes {','.join(map(str, sizes))}; runs: {runs.main} (program, preview, "
        f"floor), {runs.other} (2nd, incr), {runs.once} (up, PR, replay, floor prog); "
        f"{os.cpu_count()} CPUs; {versions()}"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(DEFAULT_SIZES),
        help="fleet sizes N, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of the program under mocks, the preview and the floor preview (default: 3)",
    )
    parser.add_argument(
        "--other-runs",
        type=int,
        help="runs of the second and the incremental preview (default: --runs, at most 2)",
    )
    parser.add_argument(
        "--checkpointed-up",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[10],
        help="sizes at which `up` is also timed with the engine's per-step checkpoints, ours "
        "and floor, once each; it grows with N squared (default: %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    sizes = sorted(set(args.sizes))
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="preview-cost-"))
    runs = Runs(main=args.runs, other=args.other_runs or min(args.runs, 2))
    say(f"sizes {sizes}, {runs}, {os.cpu_count()} CPUs, work folder {work}")
    results: list[SizeResult] = []
    try:
        # Imports of the program (and the floor's) are paid here, not in the first timed run.
        warm = LocalStack.create(work / "warm-up")
        write_fleet(warm.project, 1)
        warm_up(warm.project / "__main__.py", stack_config("local"))
        floor_main = write_floor_program(work / "warm-up-floor")
        warm_up(floor_main, floor_config(Composition(components=1, providers=1, objects=1)))
        for size in sizes:
            folder = work / f"n{size}"
            # The replay splits the key figure; above the key size it would only cost time.
            replay, checkpointed = size <= key_size(sizes), size in args.checkpointed_up
            results.append(
                measure_size(size, runs, folder, replay=replay, checkpointed=checkpointed)
            )
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(heading(sizes, runs))
    print(table(results))
    for line in report(results, time.perf_counter() - started):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
