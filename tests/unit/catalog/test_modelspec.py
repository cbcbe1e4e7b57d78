"""model.yaml validation: the shipped specs pass; each bad value is named by file and field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.catalog.load import parse_spec
from components.catalog.spec import ModelSpec, Replicas, canary_split
from tests.support.mocks import ROOT

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
        (
            "name",
            "Iris_Model",
            f"{SOURCE}: name: 'Iris_Model' cannot name the model's Service 'Iris_Model-serving', "
            "which must be a DNS-1035 label",
        ),
        # A valid DNS-1123 label, but a Service may not start with a digit.
        ("name", "3d-iris", f"{SOURCE}: name: '3d-iris' cannot name the model's Service"),
        (
            "name",
            "x" * 56,
            f"{SOURCE}: name: '{'x' * 56}' is 56 characters; at most 55, so that its Service "
            f"'{'x' * 56}-serving' stays within the 63 characters of a DNS-1035 label",
        ),
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
        ("rollout.strategy", "recreate", f"{SOURCE}: rollout.strategy: Input should be 'surge'"),
        ("rollout.pace", 1, f"{SOURCE}: rollout.pace: unknown field"),
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


def digits() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "models/digits/model.yaml").read_text())
    return copy.deepcopy(raw)


WAKE = {"query": "sum(rate(gateway_requests_total[2m]))", "threshold": 1}


def test_the_scaling_metric_defaults_by_gpu_use_and_its_target_by_metric() -> None:
    cpu_model, gpu_model = iris(), digits()
    del cpu_model["autoscaling"], gpu_model["autoscaling"]
    assert ModelSpec.model_validate(cpu_model).autoscaling.target_text == "70 % CPU of requests"
    scaling = ModelSpec.model_validate(gpu_model).autoscaling
    assert (scaling.metric, scaling.target, scaling.uses_keda) == ("requests", 20, True)
    gpu_model["autoscaling"] = {"metric": "gpu"}
    assert ModelSpec.model_validate(gpu_model).autoscaling.target == 70


def test_scale_to_zero_with_keda_and_an_activation_is_accepted() -> None:
    raw = set_path(digits(), "replicas", {"min": 0, "max": 3})
    raw["autoscaling"] = {"metric": "requests", "target": 40, "activation": WAKE}
    spec = ModelSpec.model_validate(raw)
    assert spec.scales_to_zero and spec.autoscaling.activation is not None


DIGITS = "models/digits/model.yaml"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"autoscaling": {"metric": "memory"}}, "autoscaling.metric: Input should be 'cpu',"),
        (
            {"autoscaling": {"metric": "cpu", "target": 150}},
            "autoscaling: target 150 for metric cpu: a percent from 10 to 100",
        ),
        (
            {"autoscaling": {"metric": "requests", "target": 0}},
            "autoscaling.target: Input should be greater than 0",
        ),
        (
            {"autoscaling": {"metric": "cpu", "activation": WAKE}},
            "autoscaling: activation applies to the KEDA metrics",
        ),
        (
            {"autoscaling": {"metric": "requests", "activation": {"query": "", "threshold": 1}}},
            "autoscaling.activation.query: String should have at least 1",
        ),
        (
            {"autoscaling": {"metric": "requests", "activation": WAKE}},
            "autoscaling.activation: applies only with replicas.min: 0; KEDA's activation decides "
            "between 0 and 1 replicas, and this model keeps 2",
        ),
        (
            {"replicas": {"min": 0, "max": 3}, "autoscaling": {"metric": "cpu"}},
            "replicas.min: 0 (scale to zero) needs a KEDA metric",
        ),
        (
            {"replicas": {"min": 0, "max": 3}, "autoscaling": {"metric": "requests"}},
            "replicas.min: 0 (scale to zero) needs autoscaling.activation",
        ),
        (
            {"replicas": {"min": -1, "max": 3}},
            "replicas.min: Input should be greater than or equal to 0",
        ),
        (
            {
                "replicas": {"min": 0, "max": 4},
                "autoscaling": {"metric": "requests", "activation": WAKE},
                "versions": [{"id": 1}, {"id": 2}],
                "serving": {"active": 1, "canary": {"version": 2, "percent": 50}},
            },
            "serving.canary: a canary's share is its share of ready pods",
        ),
    ],
)
def test_bad_autoscaling_is_named(changes: dict[str, Any], expected: str) -> None:
    raw = {**digits(), **changes}
    spec, problems = parse_spec(yaml.safe_dump(raw), DIGITS)
    assert spec is None
    assert any(expected in problem for problem in problems), problems


def test_gpu_metric_on_a_cpu_model_is_refused() -> None:
    problems = problems_of({**iris(), "autoscaling": {"metric": "gpu"}})
    assert problems == [
        f"{SOURCE}: autoscaling.metric: gpu needs resources.gpus > 0; a CPU model has no GPU "
        "utilisation to scale on"
    ]


def test_replace_is_allowed_only_where_the_disruption_budget_allows_it() -> None:
    raw = set_path(iris(), "rollout.strategy", "replace")
    spec, problems = parse_spec(yaml.safe_dump(raw), SOURCE)
    assert problems == [] and spec is not None and spec.rollout.strategy == "replace"
    single = set_path(copy.deepcopy(raw), "replicas", {"min": 1, "max": 3})
    assert problems_of(single) == [
        f"{SOURCE}: rollout.strategy: replace takes a pod down before its replacement starts; "
        "with replicas.min 1 that leaves no replica serving (no PodDisruptionBudget allows it): "
        "replace needs replicas.min >= 2"
    ]
    canary = set_path(copy.deepcopy(raw), "serving.canary", {"version": 1, "percent": 50})
    assert problems_of(canary) == [
        f"{SOURCE}: rollout.strategy: replace with a canary can take a pod of each track down at "
        "once, below the PodDisruptionBudget's minAvailable (replicas.min - 1): replace needs a "
        "model without serving.canary"
    ]
    assert spec_default_strategy() == "surge"


def spec_default_strategy() -> str:
    spec, _ = parse_spec(yaml.safe_dump(iris()), SOURCE)
    assert spec is not None
    return spec.rollout.strategy
