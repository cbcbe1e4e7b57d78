"""Where the Python program's time goes during a preview: ours, the Pulumi SDK's, or waiting.

Runs one `pulumi preview` of a synthetic fleet of N models with the program under pyinstrument
(the language host takes its interpreter from PULUMI_PYTHON_CMD, pointed here at a wrapper), or,
with --mocks, the program under the unit tests' mocks. Each sample is charged to the innermost
frame that belongs to a known package (standard-library frames such as `typing` are charged to
whoever called them), and split by whether our code (components/, __main__.py) is on the stack.

Needs pyinstrument, which is not in requirements-dev.txt:

    .venv/bin/python -m pip install pyinstrument
    .venv/bin/python bench/profile_preview.py --size 100
    .venv/bin/python bench/profile_preview.py --size 100 --mocks
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fleet import write_fleet  # noqa: E402
from bench.program import time_program, warm_up  # noqa: E402
from tests.support.engine import LocalStack  # noqa: E402

# Path fragment -> owner, first match wins. Frames matching none (the standard library) are
# charged to the innermost frame on the stack that matches one.
OWNERS = (
    ("/site-packages/pulumi/", "pulumi SDK"),
    ("/site-packages/pulumi_kubernetes/", "pulumi_kubernetes"),
    ("/site-packages/pulumi_", "other pulumi_* packages"),
    ("/site-packages/grpc", "grpc/protobuf"),
    ("/site-packages/google/protobuf", "grpc/protobuf"),
    ("/site-packages/pydantic", "pydantic"),
    ("/site-packages/yaml/", "PyYAML"),
    ("/site-packages/", "other packages"),
)
OURS = "ours (components/, __main__.py)"
IMPORTS = "imports (fixed cost)"
WAITING = "event loop idle (waiting for the engine)"


def owner_of(path: str, project_roots: Sequence[str]) -> str | None:
    if any(path.startswith(root) for root in project_roots):
        return OURS
    if "/site-packages/pyinstrument/" in path:
        return None
    for fragment, owner in OWNERS:
        if fragment in path:
            return owner
    return None


def charge(
    records: Sequence[tuple[Sequence[str], float]], project_roots: Sequence[str]
) -> tuple[dict[tuple[str, bool], float], dict[tuple[str, str], float]]:
    """(owner, ours on the stack) -> seconds; and (owner, leaf function) -> seconds."""
    by_owner: dict[tuple[str, bool], float] = defaultdict(float)
    by_leaf: dict[tuple[str, str], float] = defaultdict(float)
    for stack, seconds in records:
        frames = [info.split("\x01", 1)[0].split("\x00") for info in stack]
        functions = [frame[0] for frame in frames]
        paths = [frame[1] if len(frame) > 1 else "" for frame in frames]
        owners = [owner_of(path, project_roots) for path in paths]
        ours_on_stack = OURS in owners
        if "_find_and_load" in functions:
            owner = IMPORTS
        elif functions and functions[-1].endswith(("select", "poll")):
            owner = WAITING
        else:
            owner = next((o for o in reversed(owners) if o is not None), "standard library")
        by_owner[(owner, ours_on_stack)] += seconds
        leaf = f"{functions[-1]}  {Path(paths[-1]).name}" if functions else "?"
        by_leaf[(owner, leaf)] += seconds
    return by_owner, by_leaf


def print_breakdown(session_path: Path, project_roots: Sequence[str], top: int) -> None:
    from pyinstrument.session import Session

    session = Session.load(session_path)
    by_owner, by_leaf = charge(session.frame_records, project_roots)
    total = sum(by_owner.values())
    wall, cpu = session.duration, session.cpu_time
    print(f"program wall {wall:.2f} s, CPU {cpu:.2f} s, sampled {total:.2f} s")
    print(f"{'charged to':<44}{'ours on stack':>15}{'not':>9}{'share':>8}")
    owners = sorted(
        {owner for owner, _ in by_owner},
        key=lambda o: -sum(by_owner.get((o, flag), 0.0) for flag in (True, False)),
    )
    for owner in owners:
        mine, other = by_owner.get((owner, True), 0.0), by_owner.get((owner, False), 0.0)
        print(f"{owner:<44}{mine:>13.2f} s{other:>7.2f} s{(mine + other) / total:>8.0%}")
    print(f"\ntop {top} functions by own time (standard library charged to its caller's owner):")
    for (owner, leaf), seconds in sorted(by_leaf.items(), key=lambda item: -item[1])[:top]:
        print(f"{seconds:>8.2f} s  {leaf:<60} [{owner}]")


WRAPPER = """#!/bin/sh
# PULUMI_PYTHON_CMD for one profiled preview: the program runs under pyinstrument.
exec {python} -m pyinstrument --renderer pyisession --outfile {session} "$@"
"""


def profile_engine(size: int, work: Path) -> tuple[Path, list[str]]:
    stack = LocalStack.create(work)
    write_fleet(stack.project, size)
    session = work / "program.pyisession"
    wrapper = work / "python-profiled"
    wrapper.write_text(WRAPPER.format(python=sys.executable, session=session))
    wrapper.chmod(0o755)
    stack.env["PULUMI_PYTHON_CMD"] = str(wrapper)
    stack.preview()
    return session, [str(stack.project), str(ROOT / "components"), str(ROOT / "__main__.py")]


def profile_mocks(size: int, work: Path) -> tuple[Path, list[str]]:
    from pyinstrument import Profiler

    stack = LocalStack.create(work)
    write_fleet(stack.project, size)
    main = stack.project / "__main__.py"
    warm_up(main)
    profiler = Profiler(interval=0.001)
    profiler.start()
    time_program(main, 1)
    session = profiler.stop()
    path = work / "program.pyisession"
    session.save(path)
    return path, [str(stack.project), str(ROOT / "components"), str(ROOT / "__main__.py")]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=100, help="models in the fleet")
    parser.add_argument("--mocks", action="store_true", help="under mocks, not the engine")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--keep", action="store_true", help="keep the session and project")
    args = parser.parse_args(argv)
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        print("needs pyinstrument: .venv/bin/python -m pip install pyinstrument", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="profile-preview-"))
    try:
        profile = profile_mocks if args.mocks else profile_engine
        session, roots = profile(args.size, work / "stack")
        where = "under mocks" if args.mocks else "under `pulumi preview`"
        print(f"the program with {args.size} models, {where}")
        print_breakdown(session, roots, args.top)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
