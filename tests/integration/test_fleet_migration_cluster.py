"""Issue #19's migration on the simulated cluster, through the commands a user runs on a copy of
the repository (docs/fleet-scale.md, section 5): `make cluster-up` and `make up` deploy `local`
in the one-stack layout; a stacks file then assigns digits to one models stack and iris to
another, and the next `make up` moves their state (`pulumi state move`) and applies every stack.

Checked: every Kubernetes object the one stack had is the same object afterwards (its UID read
from the API server) and no pod was replaced (no rollout); that `make up` neither creates nor
deletes nor replaces anything; each models stack's state holds its model's objects and the
platform's none of them, every object in exactly one stack; `make preview` with
`--expect-no-changes` passes for the platform and both models stacks. Then iris, dropped from
the stacks file, moves back into the platform stack the same way, every object and pod kept.
`make destroy` removes the models stacks' objects before any of the platform's, and leaves none.

No charts: the copy is not beside ../shared/charts, so `local` renders none (as test_cluster.py's
stack), and the test is about state, not charts. Figures go to build/fleet-migration-figures.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from commands.fleet import model_of
from tests.support.cluster_objects import Discovery, StateObject, state_objects
from tests.support.engine import (
    ROOT,
    LocalStack,
    copy_repository,
    engine_env,
    run_make,
    timed_make,
)
from toolchain.plane.api import Api, ApiError
from toolchain.plane.layout import Layout

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

PLATFORM = "local"
MODELS = ("digits", "iris")
STACKS_FILE = "modelStacks:\n  vision: [digits]\n  tabular: [iris]\n"
MODELS_STACKS = {"local.models-vision": "digits", "local.models-tabular": "iris"}
MODELS_NAMESPACE = "models"  # modelsNamespace's default
FIGURES = ROOT / "build" / "fleet-migration-figures.json"


MAKE_TIMEOUT = 900


def make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_make(clone, *args, timeout=MAKE_TIMEOUT)


def timed(figures: dict[str, Any], key: str, clone: Path, *args: str) -> str:
    return timed_make(figures, key, clone, *args, timeout=MAKE_TIMEOUT)


@dataclass
class Migrated:
    clone: Path
    api: Api
    uids: dict[StateObject, str]
    """Every Kubernetes object of the one-stack deploy, and its UID then."""
    pods: dict[str, str]
    """The models namespace's pods then, by name: their UIDs."""
    up_output: str
    """What the migrating `make up` printed."""
    figures: dict[str, Any] = field(default_factory=dict)

    def stack(self, name: str) -> LocalStack:
        return LocalStack(self.clone, engine_env(self.clone / ".pulumi-state"), stack=name)


def uid(api: Api, discovery: Discovery, obj: StateObject) -> str:
    found: str = api.get(discovery.path(obj))["metadata"]["uid"]
    return found


def pod_uids(api: Api) -> dict[str, str]:
    listed = api.get(f"/api/v1/namespaces/{MODELS_NAMESPACE}/pods")["items"]
    return {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in listed}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    clone = copy_repository(tmp_path_factory.mktemp("fleet-migration") / "clone")
    assert not (clone / "stacks" / f"{PLATFORM}.yaml").exists(), "starts from the one-stack layout"
    figures: dict[str, Any] = {}
    try:
        timed(figures, "clusterUpSeconds", clone, "cluster-up")
        api = Api(Layout(clone / "build" / "cluster"))
        timed(figures, "oneStackUpSeconds", clone, "up")
        platform = LocalStack(clone, engine_env(clone / ".pulumi-state"))
        discovery = Discovery(api)
        uids = {obj: uid(api, discovery, obj) for obj in state_objects(platform.state())}
        pods = pod_uids(api)
        (clone / "stacks").mkdir(exist_ok=True)
        (clone / "stacks" / f"{PLATFORM}.yaml").write_text(STACKS_FILE)
        output = timed(figures, "migratingUpSeconds", clone, "up")
        figures["objects"] = len(uids)
        figures["pods"] = len(pods)
        yield Migrated(clone, api, uids, pods, output, figures)
    finally:
        make(clone, "cluster-down")
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


def changed_uids(migrated: Migrated) -> dict[str, tuple[str, str]]:
    """Each object of the one-stack deploy whose UID is not the one it had then."""
    discovery = Discovery(migrated.api)
    changed = {}
    for obj, before in migrated.uids.items():
        try:
            now = uid(migrated.api, discovery, obj)
        except ApiError as error:
            now = f"HTTP {error.status}"
        if now != before:
            changed[str(obj)] = (before, now)
    return changed


def test_every_object_is_the_same_object_and_no_pod_was_replaced(migrated: Migrated) -> None:
    # The whole platform, not a part of it: namespaces, CRDs, admission and both models.
    kinds = {obj.kind for obj in migrated.uids}
    assert {"Namespace", "CustomResourceDefinition", "Deployment", "ScaledObject"} <= kinds, kinds
    assert not changed_uids(migrated)
    migrated.figures["uidsCompared"] = len(migrated.uids)
    # Nothing rolled out either: the Deployments' pods are the ones they had.
    assert migrated.pods, "both models serve before the move"
    assert pod_uids(migrated.api) == migrated.pods


# A line of the engine's progress for a step that made, removed or replaced an object.
CHANGED_STEP = re.compile(
    r"^ *[-+~]+ +\S+ +\S+ +(created|deleted|replaced|creating replacement|deleting original)\b",
    re.MULTILINE,
)
# make echoes each engine command before running it (Makefile, up-stack).
ENGINE_COMMAND = re.compile(r"^pulumi --non-interactive --stack (\S+) +(?:--\S+ \S+ )*(\w+)")


def engine_runs(output: str) -> dict[tuple[str, str], str]:
    """What each engine run printed, by stack and command (refresh, up)."""
    runs: dict[tuple[str, str], str] = {}
    current: tuple[str, str] | None = None
    for line in output.splitlines(keepends=True):
        found = ENGINE_COMMAND.match(line)
        if found:
            current = (found.group(1), found.group(2))
            runs[current] = ""
        elif current is not None:
            runs[current] += line
    return runs


def test_the_migrating_up_moved_state_and_changed_nothing(migrated: Migrated) -> None:
    output = migrated.up_output
    for stack, model in MODELS_STACKS.items():
        moved = rf"\[fleet\] {model}: state of \d+ resources {PLATFORM} -> {re.escape(stack)}\n"
        assert re.search(moved, output), output
    # Neither the refreshes nor the updates made, removed or replaced anything.
    assert not CHANGED_STEP.findall(output), output
    runs = engine_runs(output)
    for stack in (PLATFORM, *MODELS_STACKS):
        printed = runs[(stack, "up")]
        summary = re.search(r"^Resources:\n((?: +.*\n)+)", printed, re.MULTILINE)
        assert summary and re.fullmatch(r" +\d+ unchanged\n", summary.group(1)), printed
        migrated.figures.setdefault("unchangedPerStack", {})[stack] = int(
            summary.group(1).split()[0]
        )


def test_each_stack_holds_its_own_objects(migrated: Migrated) -> None:
    platform = migrated.stack(PLATFORM)
    urns = platform.resource_urns()
    assert not [urn for urn in urns if model_of(urn, list(MODELS))], urns
    held = {PLATFORM: set(state_objects(platform.state()))}
    for stack, model in MODELS_STACKS.items():
        models_stack = migrated.stack(stack)
        found = {model_of(urn, list(MODELS)) for urn in models_stack.resource_urns()} - {None}
        assert found == {model}, (stack, found)
        held[stack] = set(state_objects(models_stack.state()))
        assert held[stack] and all(model in obj.name for obj in held[stack]), held[stack]
    # Every object in exactly one stack, and the same objects as before the split.
    every = [obj for objects in held.values() for obj in objects]
    assert len(every) == len(set(every)), sorted(map(str, every))
    assert set(every) == set(migrated.uids)
    migrated.figures["objectsPerStack"] = {stack: len(objects) for stack, objects in held.items()}


def test_a_second_preview_of_every_stack_plans_no_change(migrated: Migrated) -> None:
    output = timed(
        migrated.figures,
        "secondPreviewSeconds",
        migrated.clone,
        "preview",
        "PREVIEW_FLAGS=--expect-no-changes",
    )
    summary = (migrated.clone / "build" / f"preview-summary-{PLATFORM}-fleet.md").read_text()
    for stack in (PLATFORM, *MODELS_STACKS):
        assert f"| `{stack}` | summary below |" in summary, summary
    assert "[preview] one summary of" in output, output


def test_a_model_assigned_back_to_the_platform_moves_back_keeping_every_object(
    migrated: Migrated,
) -> None:
    """iris, dropped from the stacks file, moves from its models stack back into the platform's
    (whose aliases take its ModelMonitoring and ScaledObjects for their own): every object and
    pod is the one the one-stack deploy made, nothing is created or replaced, and the only
    removal is the Kubernetes provider `state move` copied along, which then manages nothing."""
    stacks_file = migrated.clone / "stacks" / f"{PLATFORM}.yaml"
    stacks_file.write_text("modelStacks:\n  vision: [digits]\n")
    output = timed(migrated.figures, "movingBackUpSeconds", migrated.clone, "up")
    moved = rf"\[fleet\] iris: state of \d+ resources local\.models-tabular -> {PLATFORM}\n"
    assert re.search(moved, output), output
    assert not changed_uids(migrated)
    assert pod_uids(migrated.api) == migrated.pods
    changed = [step.group(0).strip() for step in CHANGED_STEP.finditer(output)]
    assert all(re.match(r"- +pulumi:providers:kubernetes +\S+ +deleted", s) for s in changed), (
        output
    )
    migrated.figures["movingBackRemoved"] = changed
    platform = migrated.stack(PLATFORM)
    assert {model_of(urn, list(MODELS)) for urn in platform.resource_urns()} >= {"iris"}
    tabular = migrated.stack("local.models-tabular")
    assert not [urn for urn in tabular.resource_urns() if model_of(urn, list(MODELS))]
    assert not state_objects(tabular.state())
    previewed = platform.pulumi("preview", "--expect-no-changes", check=False)
    assert previewed.returncode == 0, previewed.stdout + previewed.stderr


class Vanishing:
    """When each object leaves the cluster, polled while `make destroy` runs."""

    def __init__(self, api: Api, objects: list[StateObject]) -> None:
        self.api = api
        self.discovery = Discovery(api)
        for obj in objects:  # paths learnt while the CRDs still serve their kinds
            self.discovery.path(obj)
        self.remaining = list(objects)
        self.gone: dict[StateObject, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while self.remaining and not self._stop.is_set():
            for obj in list(self.remaining):
                try:
                    there = self.discovery.exists(obj)
                except (ApiError, OSError):  # a kind whose CRD is going away: asked again
                    continue
                if not there:
                    self.gone[obj] = time.monotonic()
                    self.remaining.remove(obj)
            time.sleep(0.1)

    def __enter__(self) -> Vanishing:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        deadline = time.monotonic() + 120  # a namespace may still be finalizing its contents
        while self.remaining and time.monotonic() < deadline:
            time.sleep(0.5)
        self._stop.set()
        self._thread.join()


def test_destroy_removes_the_models_stacks_objects_first(migrated: Migrated) -> None:
    models_objects = {
        obj for stack in MODELS_STACKS for obj in state_objects(migrated.stack(stack).state())
    }
    with Vanishing(migrated.api, list(migrated.uids)) as watch:
        timed(migrated.figures, "destroySeconds", migrated.clone, "destroy")
    assert not watch.remaining, sorted(map(str, watch.remaining))
    last_model_object = max(watch.gone[obj] for obj in models_objects)
    platform_first = min(
        (when, str(obj)) for obj, when in watch.gone.items() if obj not in models_objects
    )
    assert last_model_object < platform_first[0], platform_first
    # How long after the models stacks' last object went the platform's first went.
    migrated.figures["destroyGapSeconds"] = round(platform_first[0] - last_model_object, 1)
    for stack in (PLATFORM, *MODELS_STACKS):
        assert not state_objects(migrated.stack(stack).state()), stack
