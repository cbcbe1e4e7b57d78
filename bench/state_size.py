"""What a stack's state holds, by size: the checkpoint the engine rewrites after every step.

`pulumi stack export` gives the deployment; each resource is weighed as the compact JSON of its
entry (inputs, outputs, dependencies, everything the engine keeps), grouped by type, with the
largest single resources named. The file backend writes the checkpoint indented, so its file
is larger than the sum; the bench reports that file's size beside it.

    .venv/bin/python bench/state_size.py EXPORT.json     # e.g. from `pulumi stack export`
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Weight:
    what: str
    """A resource type, or a URN for a single resource."""
    count: int
    size: int
    """Bytes of compact JSON."""


def resources_of(export: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a `pulumi stack export` (or of a checkpoint file's `checkpoint`)."""
    deployment = export.get("deployment") or export.get("checkpoint", {}).get("latest") or {}
    return list(deployment.get("resources") or [])


def weigh(resource: dict[str, Any]) -> int:
    return len(json.dumps(resource, separators=(",", ":")).encode())


def by_type(resources: Sequence[dict[str, Any]]) -> list[Weight]:
    """Bytes per resource type, largest first."""
    sizes: dict[str, list[int]] = {}
    for resource in resources:
        sizes.setdefault(resource["type"], []).append(weigh(resource))
    weights = [Weight(typ, len(found), sum(found)) for typ, found in sizes.items()]
    return sorted(weights, key=lambda weight: (-weight.size, weight.what))


def largest(resources: Sequence[dict[str, Any]], count: int) -> list[Weight]:
    """The `count` largest resources, by URN."""
    weights = [Weight(resource["urn"], 1, weigh(resource)) for resource in resources]
    return sorted(weights, key=lambda weight: (-weight.size, weight.what))[:count]


def report(export: dict[str, Any], top: int = 5) -> list[str]:
    resources = resources_of(export)
    total = sum(weigh(resource) for resource in resources)
    lines = [f"{len(resources)} resources, {total / 1024:.1f} KiB of compact JSON"]
    for weight in by_type(resources):
        each = weight.size / weight.count / 1024
        lines.append(
            f"  {weight.size / 1024:9.1f} KiB  {weight.count:5d} x {each:7.1f} KiB  {weight.what}"
        )
    lines.append(f"largest {top}:")
    lines += [f"  {w.size / 1024:9.1f} KiB  {w.what}" for w in largest(resources, top)]
    return lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("export", type=Path, help="a `pulumi stack export` file")
    parser.add_argument("--top", type=int, default=5, help="largest resources to name")
    args = parser.parse_args(argv)
    for line in report(json.loads(args.export.read_text()), args.top):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
