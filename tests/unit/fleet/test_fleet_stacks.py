"""stacks/<platform stack>.yaml: which models stack holds which model, validated once, every
problem named by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.fleet.stacks import (
    FleetStacksError,
    StackRole,
    load_fleet_stacks,
    models_stack_name,
    parse_fleet_stacks,
    stack_role,
)

MODELS = ("iris", "digits", "resnet", "bert")
SOURCE = "stacks/local.yaml"


def test_a_stack_name_says_its_role() -> None:
    assert stack_role("local") == StackRole(platform="local")
    assert stack_role("prod") == StackRole(platform="prod")
    assert stack_role("local.models-vision") == StackRole("local", "vision")
    assert stack_role(models_stack_name("dev", "nlp")).stack == "dev.models-nlp"
    # Half a name is not a models stack.
    assert stack_role(".models-x") == StackRole(platform=".models-x")
    assert stack_role("local.models-") == StackRole(platform="local.models-")


def test_no_file_is_the_one_stack_layout(tmp_path: Path) -> None:
    fleet = load_fleet_stacks(tmp_path, "local", MODELS)
    assert fleet.models_stacks == {}
    assert fleet.held_by(StackRole("local"), MODELS) == list(MODELS)


def test_models_go_where_the_file_says_and_the_rest_stay_in_the_platform() -> None:
    text = "modelStacks:\n  vision: [resnet, iris]\n  nlp: [bert]\n"
    fleet = parse_fleet_stacks(text, SOURCE, MODELS)
    assert fleet.held_by(StackRole("local"), MODELS) == ["digits"]
    assert fleet.held_by(StackRole("local", "vision"), MODELS) == ["iris", "resnet"]
    assert fleet.held_by(StackRole("local", "nlp"), MODELS) == ["bert"]


def test_a_models_stack_the_file_does_not_list_is_refused() -> None:
    fleet = parse_fleet_stacks("modelStacks:\n  vision: [iris]\n", SOURCE, MODELS)
    with pytest.raises(FleetStacksError) as error:
        fleet.held_by(StackRole("local", "nlp"), MODELS)
    assert str(error.value) == (
        "stacks/local.yaml: modelStacks has no 'nlp', so stack local.models-nlp deploys nothing "
        "(the models stacks listed: vision)"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("modelStacks:\n  vision: [iris, ghost]\n", "modelStacks.vision[1]: no model 'ghost'"),
        (
            "modelStacks:\n  a: [iris]\n  b: [digits, iris]\n",
            "modelStacks.b[1]: 'iris' is already in modelStacks.a; a model lives in exactly one",
        ),
        ("modelStacks:\n  a: [iris, iris]\n", "modelStacks.a: 'iris' is listed twice"),
        ("modelStacks:\n  a: []\n", "modelStacks.a: no models; remove the stack instead"),
        (
            "maxModelsPerStack: 2\nmodelStacks:\n  a: [iris, digits, bert]\n",
            "modelStacks.a: 3 models, over maxModelsPerStack (2)",
        ),
        ("modelStacks:\n  Vision_1: [iris]\n", "modelStacks.Vision_1.[key]:"),
        ("modelstacks:\n  a: [iris]\n", "modelstacks: Extra inputs are not permitted"),
        ("modelStacks:\n  a: [iris]\n  a: [digits]\n", "duplicate key 'a' at line 3"),
    ],
)
def test_each_problem_is_named_by_file_and_field(text: str, problem: str) -> None:
    with pytest.raises(FleetStacksError) as error:
        parse_fleet_stacks(text, SOURCE, MODELS)
    assert str(error.value).startswith(("invalid stacks/local.yaml:\n", "stacks/local.yaml: "))
    assert problem in str(error.value)


def test_the_file_is_read_from_the_stacks_folder(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "dev.yaml").write_text("modelStacks:\n  team-a: [digits]\n")
    fleet = load_fleet_stacks(tmp_path, "dev", MODELS)
    assert fleet.source == "stacks/dev.yaml"
    assert fleet.models_stacks == {"team-a": ("digits",)}
    assert load_fleet_stacks(tmp_path, "prod", MODELS).models_stacks == {}
