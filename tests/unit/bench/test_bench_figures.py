"""The bench's pure parts: the arithmetic behind its verdicts, the edits it makes to a project
copy, the engine summaries it parses and the weighing of a state. A wrong figure here would be a
wrong verdict on issue #19's targets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from bench import fleet_cost
from bench.figures import fmt_s, growth, slope
from bench.fleet import BUILDERS_MODULE, FLEET_LABEL, label_every_model
from bench.floor import floor_config
from bench.layouts import (
    LAYOUTS,
    MODELS_PER_STACK,
    Measure,
    changes_by_stack,
    shards,
    stacks_file,
)
from bench.program import STACK_REFERENCE, Composition, composition_of
from bench.sampling import ProcessStats, Run, applied_changes, planned_changes
from bench.state_size import by_type, largest, resources_of
from tests.support.engine import ROOT
from tests.support.mocks import RecordingMocks
from tests.support.specs import spec_of


def test_growth_compares_the_last_step_with_the_first_from_ten() -> None:
    # 1 s a model from 10 to 100, 2 s a model from 100 to 200: super-linear by 2.
    assert growth([(1, 0.5), (10, 10.0), (100, 100.0), (200, 300.0)]) == pytest.approx(2.0)
    assert growth([(10, 10.0), (100, 100.0)]) is None  # one step only
    assert growth([(10, 5.0), (100, 5.0), (200, 9.0)]) is None  # the first step cost nothing


def test_slope_is_the_cost_of_one_more_model() -> None:
    assert slope([(10, 1.0), (20, 2.0), (40, 4.0)]) == pytest.approx(0.1)
    assert fmt_s([9.0, 10.0, 11.0]) == "10.0±1.0"


def test_the_fleet_wide_change_labels_every_model_object_in_the_copy_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / BUILDERS_MODULE
    copy.parent.mkdir(parents=True)
    original = (ROOT / BUILDERS_MODULE).read_text()
    copy.write_text(original)

    label_every_model(tmp_path)

    assert copy.read_text().count(FLEET_LABEL) == 1
    # The edited module still loads, and model_labels returns the label beside the others.
    loader = importlib.util.spec_from_file_location("edited_builders", copy)
    assert loader is not None and loader.loader is not None
    edited = importlib.util.module_from_spec(loader)
    monkeypatch.setitem(sys.modules, "edited_builders", edited)  # its dataclasses look it up
    loader.loader.exec_module(edited)
    found = edited.model_labels(spec_of("iris"))
    assert found[FLEET_LABEL] == "2" and found["gpu-model-platform/model"] == "iris"
    assert (ROOT / BUILDERS_MODULE).read_text() == original


def test_the_floor_labels_as_many_objects_as_ours_changed() -> None:
    composition = Composition(components=3, providers=2, objects=10)
    config = floor_config(composition, changed=4)
    assert (config["components"], config["objects"], config["changed"]) == (3, 11, 4)
    assert floor_config(composition)["changed"] == 0


PREVIEW = """Previewing update (local):
Resources:
    ~ 2 to update
    +-1 to replace
    119 unchanged
"""
UP = """Updating (local):
Resources:
    ~ 10 updated
    111 unchanged

Duration: 12s
"""


def run_of(stdout: str, seconds: float, cpu: dict[str, float]) -> Run:
    return Run(seconds, 0, stdout, "", ProcessStats(cpu_seconds=cpu))


def test_summaries_of_a_preview_and_of_an_up() -> None:
    assert planned_changes(PREVIEW) == {"update": 2, "replace": 1}
    assert applied_changes(UP) == {"update": 10}
    assert planned_changes(UP) == {} and applied_changes(PREVIEW) == {}


def test_make_ups_output_is_split_by_stack() -> None:
    """`make up` runs the engine on each stack, the output of each contiguous (--output-sync):
    what each applied is read from its own `Updating (STACK):` section, not its preview's."""
    shard = UP.replace("(local)", "(local.models-shard-00)").replace("~ 10", "~ 100")
    output = "[fleet] moves: none\n" + PREVIEW + UP + PREVIEW.replace("(local)", "(x)") + shard
    assert changes_by_stack(output) == {
        "local": {"update": 10},
        "local.models-shard-00": {"update": 100},
    }
    assert changes_by_stack(PREVIEW) == {}


def test_a_measure_adds_up_the_engine_runs_of_a_step() -> None:
    measure = Measure.of(
        [run_of(PREVIEW, 2.0, {"cli": 1.0}), run_of(UP, 3.0, {"cli": 0.5, "program": 2.0})]
    )
    assert (measure.seconds, measure.engine_runs, measure.changed) == (5.0, 2, 13)
    assert measure.cpu == {"cli": 1.5, "program": 2.0}
    assert Measure.of([run_of(UP, 3.0, {})], seconds=1.0).seconds == 1.0  # in parallel


EXPORT = {
    "version": 3,
    "deployment": {
        "resources": [
            {"urn": "urn:a", "type": "pulumi:pulumi:Stack"},
            {
                "urn": "urn:crd",
                "type": "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
                "inputs": {"spec": "x" * 5000},
            },
            {"urn": "urn:cm1", "type": "kubernetes:core/v1:ConfigMap", "inputs": {"d": "y" * 100}},
            {"urn": "urn:cm2", "type": "kubernetes:core/v1:ConfigMap", "inputs": {"d": "y" * 300}},
        ]
    },
}


def test_state_is_weighed_by_type_and_by_resource() -> None:
    resources = resources_of(EXPORT)
    types = by_type(resources)
    assert types[0].what.endswith("CustomResourceDefinition")
    config_maps = next(w for w in types if w.what == "kubernetes:core/v1:ConfigMap")
    assert config_maps.count == 2 and config_maps.size > 400
    assert [w.what for w in largest(resources, 2)] == ["urn:crd", "urn:cm2"]
    assert resources_of({"checkpoint": {"latest": EXPORT["deployment"]}}) == resources


def result(size: int, pr: float, fleet: float, floor_fleet: float) -> fleet_cost.Result:
    found = fleet_cost.Result(design="single", size=size, resources=9 + 12 * size)
    found.preview = fleet_cost.Pair([Measure(size * 0.13)], [Measure(size * 0.1)])
    found.pull_request = fleet_cost.Pair([Measure(pr)], [Measure(pr / 4)])
    found.fleet_up = fleet_cost.Pair([Measure(fleet)], [Measure(floor_fleet)])
    found.second = [Measure(1.0)]
    return found


def test_verdicts_judge_the_key_size_and_say_when_it_was_not_measured() -> None:
    results = [result(10, 5.0, 20.0, 10.0), result(100, 11.0, 100.0, 60.0)]
    lines = fleet_cost.verdicts("single", results)
    assert "PR preview <= 10 s: 11.00 s at N=100, MISSED" in lines[0]
    assert "<= 2x floor: 1.67x at N=100, met" in lines[1]
    assert "<= 120 s: 100.00 s at N=100, met" in lines[2]
    assert "bare preview <= 1.3x floor: 1.30x at N=100, met" in lines[3]
    assert "n/a (needs 3 sizes >= 10), not judged" in lines[4]
    assert lines[-1].endswith("met ({10: 0, 100: 0})")

    small = fleet_cost.verdicts("single", [result(10, 5.0, 20.0, 10.0)])
    assert "not judged (N=100 not measured; N=10: 5.00)" in small[0]


def test_designs_are_checked_against_the_layouts() -> None:
    assert list(LAYOUTS) == ["single", "split"]
    assert fleet_cost.parse_args([]).designs == ["single", "split"]  # before and after
    assert fleet_cost.parse_args(["--designs", "split"]).designs == ["split"]
    with pytest.raises(SystemExit):
        fleet_cost.parse_args(["--designs", "micro"])


def test_the_split_design_puts_at_most_ten_models_in_each_models_stack() -> None:
    names = [f"bench-{index:04d}" for index in range(23)]
    groups = shards(names, MODELS_PER_STACK)
    assert list(groups) == ["shard-00", "shard-01", "shard-02"]
    assert [len(models) for models in groups.values()] == [10, 10, 3]
    assert [model for models in groups.values() for model in models] == names
    assert shards(names, None) == {}  # today's design: every model in the platform stack
    assert yaml.safe_load(stacks_file(groups)) == {"modelStacks": groups}


def test_steps_of_one_wait_add_up_their_engine_runs_per_stack() -> None:
    platform = Measure.of([Run(3.0, 0, PREVIEW, "", ProcessStats(cpu_seconds={"cli": 1.0}), "a")])
    models = Measure.of([Run(2.0, 0, UP, "", ProcessStats(cpu_seconds={"cli": 0.5}), "b")])
    models = Measure.joined([models], 2.5, extra_seconds=0.5)
    # Side by side: the wall time is the wait's, not the sum of the runs'.
    both = Measure.joined([platform, models], 3.2, extra_seconds=0.3)
    assert (both.seconds, both.engine_runs, both.extra_seconds) == (3.2, 2, 0.8)
    assert both.cpu == {"cli": 1.5}
    assert both.changes == {"update": 12, "replace": 1}
    assert both.by_stack == {"a": 3, "b": 10}  # what the floor changes in its stacks a and b


def test_the_fleet_wide_up_can_run_at_other_sizes_for_one_design() -> None:
    designs, sizes = ["single", "split"], [10, 100]
    every = fleet_cost.fleet_up_sizes(None, designs, sizes)
    assert every == {"single": {10, 100}, "split": {10, 100}}
    chosen = fleet_cost.fleet_up_sizes(["10", "split:10,100"], designs, sizes)
    assert chosen == {"single": {10}, "split": {10, 100}}
    with pytest.raises(ValueError, match="'micro' is not among --designs"):
        fleet_cost.fleet_up_sizes(["micro:10"], designs, sizes)


def test_a_models_stacks_reference_to_its_platform_is_no_resource_of_the_floors() -> None:
    mocks = RecordingMocks()
    registered = [
        ("pulumi:providers:kubernetes", True),
        ("gpu-model-platform:serving:ModelService", False),
        ("kubernetes:apps/v1:Deployment", True),
        # The mocks record the StackReference as not custom (a read): not a component either.
        (STACK_REFERENCE, False),
    ]
    mocks.resources = [
        pulumi.runtime.MockResourceArgs(typ, f"r{index}", {}, custom=custom)
        for index, (typ, custom) in enumerate(registered)
    ]
    found = composition_of(mocks)
    assert found == Composition(components=1, providers=1, objects=1, references=1)
    assert found.total == 4  # a preview's summary counts no reads
    assert floor_config(found)["references"] == 1
