"""model.yaml validation: the shipped specs pass; each bad value is named by file and field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.catalog import parse_spec
from components.modelspec import ModelSpec, Replicas, canary_split
from tests.support import ROOT

SOURCE = "models/iris/model.yaml"


def iris() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / SOURCE).read_text())
    return copy.deepcopy(raw)


def problems_of(raw: dict[str, Any]) -> list[str]:
    spec, problems = parse_spec(yaml.safe_dump(raw), SOURCE)
    assert spec is None, "expected the spec to be refused"
    return problems


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_shipped_specs_are_valid(name: str) -> None:
    spec, problems = parse_spec((ROOT / f"models/{name}/model.yaml").read_text(), name)
    assert problems == [] and spec is not None and spec.name == name


def test_digits_asks_for_one_gpu_of_an_accepted_type_and_iris_for_none() -> None:
    digits, _ = parse_spec((ROOT / "models/digits/model.yaml").read_text(), "digits")
    iris_spec, _ = parse_spec((ROOT / SOURCE).read_text(), "iris")
    assert digits is not None and digits.uses_gpus and digits.resources.gpus == 1
    assert iris_spec is not None and not iris_spec.uses_gpus


def set_path(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("colour", "blue", f"{SOURCE}: colour: unknown field"),
        ("serving.shadow", 1, f"{SOURCE}: serving.shadow: unknown field"),
        ("name", "Iris_Model", f"{SOURCE}: name: 'Iris_Model' is not a DNS-1123"),
        ("name", "x" * 41, f"{SOURCE}: name: String should have at most 40 characters"),
        ("serving.active", 9, f"{SOURCE}: serving.active: version 9 is not in versions [1, 2]"),
        (
            "serving.canary",
            {"version": 2, "percent": 50},
            f"{SOURCE}: serving.canary.version: 2 is the active version",
        ),
        (
            "serving.canary",
            {"version": 7, "percent": 50},
            f"{SOURCE}: serving.canary.version: 7 is not in versions [1, 2]",
        ),
        (
            "serving.canary",
            {"version": 1, "percent": 0},
            f"{SOURCE}: serving.canary.percent: Input should be greater than or equal to 1",
        ),
        (
            "serving.canary",
            {"version": 1, "percent": 100},
            f"{SOURCE}: serving.canary.percent: Input should be less than or equal to 99",
        ),
        (
            "serving.canary",
            {"version": 1, "percent": 10},
            f"{SOURCE}: serving.canary.percent: 10% cannot be expressed with replicas.min 2",
        ),
        ("replicas", {"min": 5, "max": 3}, f"{SOURCE}: replicas: min (5) is greater than max (3)"),
        ("resources.gpus", 1, f"{SOURCE}: resources: gpu_types must list the accepted GPU types"),
        ("resources.gpu_types", ["v100"], f"{SOURCE}: resources.gpu_types.0: Input should be"),
        ("resources.cpu", "lots", f"{SOURCE}: resources.cpu: 'lots' is not a CPU"),
        ("resources.memory", "2GB", f"{SOURCE}: resources.memory: '2GB' is not a"),
        ("versions", [{"id": 2}, {"id": 2}], "versions: ids must be unique, got [2, 2]"),
        ("gate.threshold", 1.5, f"{SOURCE}: gate.threshold: Input should be less than or equal"),
        (
            "signature.inputs.features.shape",
            [0, 4],
            f"{SOURCE}: signature.inputs.features: shape dimensions are positive",
        ),
    ],
)
def test_bad_field_is_named(path: str, value: Any, expected: str) -> None:
    problems = problems_of(set_path(iris(), path, value))
    assert any(expected in problem for problem in problems), problems


def test_missing_required_field_is_named() -> None:
    raw = iris()
    del raw["slo"]
    assert problems_of(raw) == [f"{SOURCE}: slo: Field required"]


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    spec, problems = parse_spec("- just\n- a list\n", SOURCE)
    assert spec is None and problems == [f"{SOURCE}: expected a mapping of fields, got list"]


def test_broken_yaml_is_refused_with_its_file() -> None:
    spec, problems = parse_spec("name: [unclosed\n", SOURCE)
    assert spec is None and problems[0].startswith(f"{SOURCE}: not valid YAML:")


@pytest.mark.parametrize(
    ("minimum", "maximum", "percent", "stable", "canary"),
    [
        (10, 20, 10, (9, 18), (1, 2)),
        (2, 4, 50, (1, 2), (1, 2)),
        (4, 8, 25, (3, 6), (1, 2)),
        (10, 10, 10, (9, 9), (1, 1)),
        (2, 3, 50, (1, 1), (1, 2)),
    ],
)
def test_canary_split_is_exact_at_min_and_nearest_at_max(
    minimum: int, maximum: int, percent: int, stable: tuple[int, int], canary: tuple[int, int]
) -> None:
    stable_bounds, canary_bounds = canary_split(Replicas(min=minimum, max=maximum), percent)
    assert (stable_bounds.min, stable_bounds.max) == stable
    assert (canary_bounds.min, canary_bounds.max) == canary
    assert canary_bounds.min * 100 == minimum * percent


def test_canary_percent_that_replicas_cannot_express_says_what_would() -> None:
    with pytest.raises(ValueError, match=r"replicas\.min must be a multiple of 10"):
        canary_split(Replicas(min=9, max=20), 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        canary_split(Replicas(min=6, max=20), 25)


def test_defaults_live_in_the_spec_model() -> None:
    spec = ModelSpec.model_validate({k: v for k, v in iris().items() if k != "batching"})
    assert spec.batching.max_batch_size == 32
    assert spec.autoscaling.metric == "cpu"
