"""Which models stack a model joins: the assignment `python -m commands.fleet_assign STACK
[--write]` prints (or writes) as `stacks/<platform stack>.yaml` (components/fleet/stacks.py,
docs/fleet-scale.md section 4).

It never moves a model the file already places: a move is a state move of a live model, a
decision for a reviewer, not a side effect of adding another. Each model the file does not list
(so held by the platform stack today) joins, in name order:
  1. a stack already holding a model of the same owner (`owner` in model.yaml), with room;
  2. else, when its owner has at least half a stack of models, a stack named after the owner
     (the owner's name before any `@`, as a DNS label: `ml-platform`, then `ml-platform-2`, ...);
  3. else a stack small teams share (`shared`, `shared-2`, ...), with room.
So a team's models stay together behind their own lock, a large team fills stacks of at most
maxModelsPerStack, and small teams do not each pay a stack's fixed cost (docs/fleet-scale.md,
section 1: about 14 CPU-seconds to `up` a stack however little changed).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from commands.fleet import PROJECT
from components.catalog.folders import model_names
from components.catalog.load import MAX_SPEC_BYTES, SPEC_FILE, parse_spec
from components.facts.yaml_input import InputError, read_bounded
from components.fleet.stacks import (
    DEFAULT_MAX_MODELS_PER_STACK,
    FleetStacksError,
    load_fleet_stacks,
    models_stack_name,
    parse_fleet_stacks,
    stack_role,
)

SHARED_STACK = "shared"
# Room for a "-<n>" suffix within a DNS label (63 characters).
MAX_BASE_LENGTH = 56


@dataclass(frozen=True)
class Placement:
    model: str
    owner: str
    stack: str
    """The models stack's name in the file (`local.models-<stack>` is the Pulumi stack)."""
    new_stack: bool


def owner_stack_name(owner: str) -> str:
    """The stack named after an owner: the part before any `@`, lowercased, as a DNS label."""
    local = owner.partition("@")[0].lower()
    name = re.sub(r"[^a-z0-9]+", "-", local).strip("-")[:MAX_BASE_LENGTH].strip("-")
    if not name or not name[0].isalpha():
        name = f"team-{name}".strip("-")
    return name


def _numbered(base: str, stacks: Mapping[str, Sequence[str]], limit: int) -> str:
    """`base`, `base-2`, ...: the first that does not exist or has room."""
    number = 1
    while True:
        name = base if number == 1 else f"{base}-{number}"
        if len(stacks.get(name, ())) < limit:
            return name
        number += 1


def _stack_for(
    owner: str,
    stacks: Mapping[str, Sequence[str]],
    owners: Mapping[str, str],
    team_size: int,
    limit: int,
) -> str:
    for name, held in stacks.items():
        if len(held) < limit and any(owners.get(model) == owner for model in held):
            return name
    if 2 * team_size >= limit:
        return _numbered(owner_stack_name(owner), stacks, limit)
    return _numbered(SHARED_STACK, stacks, limit)


def assign(
    owners: Mapping[str, str], current: Mapping[str, Sequence[str]], limit: int
) -> tuple[dict[str, list[str]], list[Placement]]:
    """The file's `modelStacks` with every model of `owners` (model -> owner) placed: `current`
    as it is (every model it lists stays where it is), each model it does not list added by the
    rules above, at most `limit` a stack. Returns it and the placements made, in name order."""
    stacks = {name: list(models) for name, models in current.items()}
    listed = {model for models in stacks.values() for model in models}
    team_sizes = Counter(owners.values())
    placements = []
    for model in sorted(set(owners) - listed):
        owner = owners[model]
        stack = _stack_for(owner, stacks, owners, team_sizes[owner], limit)
        placements.append(Placement(model, owner, stack, new_stack=stack not in stacks))
        stacks.setdefault(stack, []).append(model)
    return stacks, placements


def model_owners(project: Path, names: Sequence[str]) -> dict[str, str]:
    """Each model's owner, from its model.yaml validated as the catalog validates it; every
    problem named by file and field."""
    owners: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        path = project / "models" / name / SPEC_FILE
        source = str(path.relative_to(project))
        try:
            spec, found = parse_spec(read_bounded(path, MAX_SPEC_BYTES, source), source)
        except InputError as error:
            spec, found = None, [str(error)]
        problems += found
        if spec is not None:
            owners[name] = spec.owner
    if problems:
        raise FleetStacksError("\n".join(problems))
    return owners


HEADER = """\
# Which models stack holds which model (components/fleet/stacks.py, docs/fleet-scale.md).
# `python -m commands.fleet_assign {platform} --write` places the models this file does not list
# and keeps every other where it is; edit it by hand as you like (its comments are not kept).
"""


def render(platform: str, stacks: Mapping[str, Sequence[str]], limit: int) -> str:
    document: dict[str, Any] = {}
    if limit != DEFAULT_MAX_MODELS_PER_STACK:
        document["maxModelsPerStack"] = limit
    document["modelStacks"] = {name: list(models) for name, models in stacks.items()}
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=100)
    return HEADER.format(platform=platform) + body


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m commands.fleet_assign", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("stack", help="the platform stack, e.g. local")
    parser.add_argument("--write", action="store_true", help="write stacks/STACK.yaml")
    args = parser.parse_args(argv)
    if stack_role(args.stack).models_stack is not None:
        print(f"[fleet] {args.stack} is a models stack: assign its platform's", file=sys.stderr)
        return 2
    names = model_names(PROJECT / "models")
    try:
        fleet = load_fleet_stacks(PROJECT, args.stack, names)
        owners = model_owners(PROJECT, names)
    except FleetStacksError as error:
        print(f"[fleet] {error}", file=sys.stderr)
        return 2
    limit = fleet.max_models_per_stack
    stacks, placements = assign(owners, fleet.models_stacks, limit)
    text = render(args.stack, stacks, limit)
    parse_fleet_stacks(text, fleet.source, names)  # what it writes, the programs accept
    for placed in placements:
        new = " (a new stack)" if placed.new_stack else ""
        stack = models_stack_name(args.stack, placed.stack)
        print(f"[fleet] {placed.model} ({placed.owner}) -> {stack}{new}", file=sys.stderr)
    if not placements:
        print(
            f"[fleet] {fleet.source} lists every model already: nothing to place", file=sys.stderr
        )
    if not args.write:
        print(text, end="")
        return 0
    path = PROJECT / fleet.source
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    print(
        f"[fleet] wrote {fleet.source}: the next `make up STACK={args.stack}` moves the state of "
        "the models placed from the platform stack to theirs (no object touched)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
