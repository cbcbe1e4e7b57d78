"""Placing models in models stacks (commands/fleet_assign.py): nothing already placed moves, a
team's models stay together, large teams fill their own stacks, small teams share one, and no
stack goes over its limit; what `--write` writes is a stacks file the programs accept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from commands import fleet_assign
from commands.fleet_assign import Placement, assign, owner_stack_name
from components.fleet.stacks import load_fleet_stacks
from tests.support.mocks import ROOT

VISION = "vision@example.com"
TABULAR = "tabular@example.com"


def test_a_model_the_file_places_never_moves() -> None:
    owners = {"a": VISION, "b": TABULAR, "c": VISION}
    stacks, placed = assign(owners, {"mixed": ["a", "b"]}, limit=10)
    # c joins its owner's model where it is, with room; a and b stay.
    assert stacks == {"mixed": ["a", "b", "c"]}
    assert placed == [Placement("c", VISION, "mixed", new_stack=False)]
    # Run again on its own output: nothing left to place, nothing moved.
    assert assign(owners, stacks, limit=10) == (stacks, [])


def test_a_large_team_fills_stacks_named_after_it_and_small_teams_share() -> None:
    owners = {f"v{i:02d}": VISION for i in range(7)} | {"t1": TABULAR, "x1": "Ops.Team@corp"}
    stacks, placed = assign(owners, {}, limit=4)
    assert stacks == {
        "shared": ["t1", "x1"],  # teams of fewer than half a stack share one
        "vision": ["v00", "v01", "v02", "v03"],
        "vision-2": ["v04", "v05", "v06"],
    }
    assert [p.stack for p in placed if p.new_stack] == ["shared", "vision", "vision-2"]


def test_no_stack_goes_over_the_limit_and_every_model_is_in_exactly_one() -> None:
    owners = {f"m{i:03d}": f"team{i % 7}@example.com" for i in range(95)}
    current = {"old": ["m000", "m007"], "full": [f"m{i:03d}" for i in range(1, 6)]}
    stacks, _ = assign(owners, current, limit=5)
    every = [model for models in stacks.values() for model in models]
    assert sorted(every) == sorted(owners)
    assert all(len(models) <= 5 for models in stacks.values()), stacks
    assert stacks["old"][:2] == ["m000", "m007"] and stacks["full"] == current["full"]


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        ("ML.Platform@example.com", "ml-platform"),
        ("42-team", "team-42-team"),
        ("@example.com", "team"),
        ("a" * 80, "a" * 56),
    ],
)
def test_an_owners_stack_name_is_a_dns_label(owner: str, name: str) -> None:
    assert owner_stack_name(owner) == name


def project(tmp_path: Path, stacks: str | None = None) -> Path:
    shutil.copytree(ROOT / "models", tmp_path / "models")
    if stacks is not None:
        (tmp_path / "stacks").mkdir()
        (tmp_path / "stacks" / "local.yaml").write_text(stacks)
    return tmp_path


def test_write_places_every_model_in_a_file_the_programs_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    monkeypatch.setattr(fleet_assign, "PROJECT", root)
    assert fleet_assign.main(["local", "--write"]) == 0
    names = sorted(p.name for p in (root / "models").iterdir() if p.is_dir())
    written = load_fleet_stacks(root, "local", names)
    assert sorted(m for models in written.models_stacks.values() for m in models) == names
    assert "local.models-shared (a new stack)" in capsys.readouterr().err


def test_a_bad_model_yaml_is_named_by_file_and_field_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "modelStacks:\n  vision: [digits]\n")
    spec = root / "models" / "iris" / "model.yaml"
    spec.write_text(spec.read_text().replace("owner:", "ownr:", 1))
    monkeypatch.setattr(fleet_assign, "PROJECT", root)
    before = (root / "stacks" / "local.yaml").read_text()
    assert fleet_assign.main(["local", "--write"]) == 2
    err = capsys.readouterr().err
    assert "models/iris/model.yaml: owner: Field required" in err, err
    assert "models/iris/model.yaml: ownr: unknown field" in err, err
    assert (root / "stacks" / "local.yaml").read_text() == before
