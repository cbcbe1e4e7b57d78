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
from typing import Any

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
        items.sort(key=scheduling_rank)


# Under `make test` pytest-xdist runs the tests on two workers, a group at a time each, in the
# order collected (`--no-loadscope-reorder`). A group is a test file, so its module fixtures stay
# on one worker, except that every file with a simulated-cluster test is in one group: those run
# one after the other on one worker, first (they mostly wait on controllers, and each plane's
# timings get the share of the cores they get when run alone), while the other worker runs the
# engine, gate and unit files. The workers sort what they collect (stably, so alike, as xdist
# requires); the controller, which collects nothing, groups by reading the files.
SCHEDULING_ORDER = ("engine", "gate")
CLUSTER_GROUP = "simulated-cluster"


# `make test` builds promtool, Prometheus, KEDA and amtool while the tests run (Makefile:
# TEST_TOOLS): the files using them, through these helpers, go last within their group, so the
# builds have the most time before a worker waits for one.
LATE_TOOL_HELPERS = (
    "alert_cases",
    "alertmanager_checks",
    "canary_series",
    "keda_plane",
    "monitoring_checks",
    "prometheus_server",
)


def has_cluster_tests(path: Path) -> bool:
    return "pytest.mark.cluster" in path.read_text()


def uses_late_tools(path: Path) -> bool:
    text = path.read_text()
    return any(f"support.{helper}" in text for helper in LATE_TOOL_HELPERS)


def scheduling_rank(item: pytest.Item) -> tuple[int, bool]:
    late = uses_late_tools(item.path)
    if has_cluster_tests(item.path):
        return 0, late
    markers = [m for m in SCHEDULING_ORDER if item.get_closest_marker(m) is not None]
    return 1 + (SCHEDULING_ORDER.index(markers[0]) if markers else len(SCHEDULING_ORDER)), late


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ClusterFilesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return CLUSTER_GROUP if has_cluster_tests(config.rootpath / file) else file

    return ClusterFilesTogether(config, log)
