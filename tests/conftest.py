"""The test suite's levels, and what each may do (README, "Tests"):

- unit/: pure builders and the program under Pulumi mocks; no engine, no TensorFlow; seconds.
- policies/: each rule on fixtures, and through the real engine (those marked `engine`).
- integration/: the real engine on `local`, rendering and on a real control plane; all `engine`.
- gate/: the model gate with real TensorFlow; all `gate`.

`make unit` deselects `engine`, `gate` and `gobuild`, so a slow test in the wrong place would
make it slow or, worse, a level's guarantee untrue: collection fails instead.
Shared helpers live in tests/support/, never in a test module.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Each level and the marker every test in it must (True) or must not (False) carry.
LEVEL_MARKERS = {
    "unit": {"engine": False, "gate": False, "cluster": False},
    "integration": {"engine": True},
    "gate": {"gate": True, "engine": False},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        level = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        for marker, required in LEVEL_MARKERS.get(level, {}).items():
            if (item.get_closest_marker(marker) is not None) != required:
                wrong.append(f"{item.nodeid}: {'needs' if required else 'must not carry'} {marker}")
    if wrong:
        raise pytest.UsageError("tests at the wrong level:\n  " + "\n  ".join(wrong))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=scheduling_weight)


# Under `make test` pytest-xdist runs the files on two workers, a file at a time each, in the order
# collected (`--dist loadfile --no-loadscope-reorder`). The longest files go first: the cluster
# tests spend most of their minutes waiting on controllers, which the other worker fills with
# engine and unit work; started last, one of them would run alone at the end. Every worker
# collects the same order, as xdist requires (the sort is stable).
SCHEDULING_ORDER = ("cluster", "engine", "gate")


def scheduling_weight(item: pytest.Item) -> int:
    for rank, marker in enumerate(SCHEDULING_ORDER):
        if item.get_closest_marker(marker) is not None:
            return rank
    return len(SCHEDULING_ORDER)
