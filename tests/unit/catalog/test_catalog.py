"""The catalog refuses, before any resource exists, every model that cannot deploy, naming why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog.gate_record import (
    MAX_RECORD_BYTES,
    content_digest,
    gate_record_path,
    read_record,
    savedmodel_dir,
    warmup_path,
    write_record,
)
from components.catalog.load import MAX_SPEC_BYTES, CatalogError, load_catalog
from tests.support.mocks import ROOT, record_gate
from tests.support.specs import add_model


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


def problems(models: Path, max_gpus: int = 1) -> str:
    with pytest.raises(CatalogError) as raised:
        load_catalog(models, max_gpus)
    message = str(raised.value)
    assert message.startswith("models cannot deploy; nothing was changed:")
    return message


def test_the_shipped_models_load_with_verified_digests() -> None:
    catalog = load_catalog(ROOT / "models", max_gpus_per_pod=1)
    assert [entry.spec.name for entry in catalog] == ["digits", "iris"]
    for entry in catalog:
        assert set(entry.digests) == set(entry.spec.served_versions)
        assert set(entry.startup) == set(entry.spec.served_versions)


def test_the_shipped_versions_carry_their_warmup_file_inside_the_digest() -> None:
    for files in sorted((ROOT / "models").glob("*/savedmodel/*")):
        warmup = warmup_path(files)
        assert warmup.is_file(), warmup
        # TF Serving's layout: the file is in the version's folder, so the digest covers it.
        assert warmup.relative_to(files).as_posix() == "assets.extra/tf_serving_warmup_requests"
        assert 0 < warmup.stat().st_size < 4096, f"{warmup}: warmup files stay a few KB"


def test_a_third_model_is_a_folder_and_nothing_else(models: Path) -> None:
    add_model(models, "iris")
    add_model(models, "iris-copy")
    assert [e.spec.name for e in load_catalog(models, 1)] == ["iris", "iris-copy"]


def test_missing_gate_record_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    gate_record_path(folder, 2).unlink()
    assert (
        "models/iris/gate/2.json: no gate record for version 2; run `make models MODEL=iris`"
        in (problems(models))
    )


def test_failed_gate_is_refused_with_its_reasons(models: Path) -> None:
    folder = add_model(models, "iris")
    record_gate(folder, 2, passed=False)
    assert (
        "models/iris/gate/2.json: version 2 failed its gate: accuracy 0.41 is below the "
        "threshold 0.90"
    ) in problems(models)


def test_savedmodel_changed_after_its_gate_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    (savedmodel_dir(folder, 2) / "saved_model.pb").write_bytes(b"retrained without the gate")
    assert "models/iris/savedmodel/2: files changed since the gate passed" in problems(models)


def test_a_renamed_file_changes_the_digest_too(models: Path) -> None:
    folder = add_model(models, "iris")
    files = savedmodel_dir(folder, 2) / "variables"
    (files / "variables.index").rename(files / "other.index")
    assert "files changed since the gate passed" in problems(models)


def test_an_edited_warmup_file_changes_the_digest_and_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    files = savedmodel_dir(folder, 2)
    before = content_digest(files)
    warmup_path(files).write_bytes(warmup_path(files).read_bytes() + b"one more request")
    assert content_digest(files) != before
    assert "models/iris/savedmodel/2: files changed since the gate passed" in problems(models)


def test_a_version_without_a_warmup_file_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    warmup_path(savedmodel_dir(folder, 2)).unlink()
    assert (
        "models/iris/savedmodel/2/assets.extra/tf_serving_warmup_requests: missing, so TF "
        "Serving would serve version 2 cold; run `make models MODEL=iris`"
    ) in problems(models)


def test_a_passing_record_without_startup_figures_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    record = read_record(gate_record_path(folder, 2))
    write_record(gate_record_path(folder, 2), record.model_copy(update={"startup": None}))
    assert (
        "models/iris/gate/2.json: startup: missing, the gate measures load and warmup time; "
        "run `make models MODEL=iris`"
    ) in problems(models)


def test_only_served_versions_need_a_passing_gate(models: Path) -> None:
    folder = add_model(models, "iris")
    record_gate(folder, 1, passed=False)  # version 1 is declared but not served
    assert [e.spec.name for e in load_catalog(models, 1)] == ["iris"]


def test_more_gpus_than_the_stack_allows_is_refused(models: Path) -> None:
    add_model(models, "digits", source="digits")
    assert (
        "models/digits/model.yaml: resources.gpus: 1 GPUs per pod, but this stack allows at "
        "most 0 (stack config maxGpusPerPod)"
    ) in problems(models, max_gpus=0)


def test_name_must_match_the_folder(models: Path) -> None:
    folder = add_model(models, "iris")
    folder.rename(models / "flowers")
    assert "models/flowers/model.yaml: name: 'iris' must match its folder 'flowers'" in (
        problems(models)
    )


def test_folder_without_spec_is_refused(models: Path) -> None:
    (models / "draft").mkdir()
    assert "models/draft/model.yaml: missing" in problems(models)


def test_every_bad_model_is_reported_at_once_and_good_ones_do_not_hide_them(models: Path) -> None:
    add_model(models, "iris")
    bad = add_model(models, "broken")
    (bad / "model.yaml").write_text((bad / "model.yaml").read_text() + "colour: blue\n")
    gpu_hungry = add_model(models, "digits", source="digits")
    gate_record_path(gpu_hungry, 1).unlink()
    message = problems(models)
    assert "models/broken/model.yaml: colour: unknown field" in message
    assert "models/digits/gate/1.json: no gate record" in message
    assert "iris" not in message


# Gate records are bound to the spec they were produced under.


def edit_record(folder: Path, version: int, **changes: object) -> None:
    path = gate_record_path(folder, version)
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def edit_spec_yaml(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    raw = yaml.safe_load((folder / "model.yaml").read_text())
    edit(raw)
    (folder / "model.yaml").write_text(yaml.safe_dump(raw))


def test_the_shipped_records_state_the_spec_they_were_gated_under() -> None:
    for entry in load_catalog(ROOT / "models", max_gpus_per_pod=1):
        for version in entry.spec.served_versions:
            record = read_record(gate_record_path(entry.directory, version))
            assert record.gate == entry.spec.gate
            assert record.signature == entry.spec.signature
            assert record.train == next(v.train for v in entry.spec.versions if v.id == version)


def test_a_threshold_raised_above_the_recorded_metric_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    edit_spec_yaml(folder, lambda raw: raw["gate"].update(threshold=0.99))
    message = problems(models)
    assert (
        "models/iris/gate/2.json: gate.threshold: gated with 0.9, but model.yaml says 0.99; "
        "the record does not vouch for the spec as it is, run `make models MODEL=iris`"
    ) in message
    assert (
        "models/iris/gate/2.json: value: accuracy 0.97 is below the threshold 0.99 of model.yaml "
        "gate.threshold"
    ) in message


def test_a_record_whose_metric_was_edited_below_its_threshold_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    edit_record(folder, 2, value=0.5)
    assert "models/iris/gate/2.json: value: accuracy 0.5 is below the threshold 0.9" in (
        problems(models)
    )


def test_a_record_whose_threshold_was_edited_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    edit_record(
        folder,
        2,
        gate={"metric": "accuracy", "threshold": 0.5, "held_out_fraction": 0.3, "seed": 7},
    )
    assert (
        "models/iris/gate/2.json: gate.threshold: gated with 0.5, but model.yaml says 0.9"
    ) in problems(models)


@pytest.mark.parametrize(
    ("edit", "field", "was", "now"),
    [
        (lambda raw: raw["gate"].update(seed=8), "gate.seed", "7", "8"),
        (
            lambda raw: raw["gate"].update(held_out_fraction=0.2),
            "gate.held_out_fraction",
            "0.3",
            "0.2",
        ),
        (
            lambda raw: raw["signature"]["inputs"]["features"].update(shape=[-1, 5]),
            "signature.inputs.features.shape",
            "[-1, 4]",
            "[-1, 5]",
        ),
        (
            lambda raw: raw["versions"][1]["train"].update(epochs=10),
            "versions[id=2].train.epochs",
            "200",
            "10",
        ),
        (
            lambda raw: raw["versions"][1]["train"].update(dropout=0.1),
            "versions[id=2].train.dropout",
            "null",
            "0.1",
        ),
    ],
)
def test_a_spec_changed_after_its_gate_is_refused_naming_the_field(
    models: Path, edit: Callable[[dict[str, Any]], None], field: str, was: str, now: str
) -> None:
    folder = add_model(models, "iris")
    edit_spec_yaml(folder, edit)
    assert f"models/iris/gate/2.json: {field}: gated with {was}, but model.yaml says {now}" in (
        problems(models)
    )


def test_a_record_without_the_spec_it_was_gated_under_is_refused(models: Path) -> None:
    folder = add_model(models, "iris")
    path = gate_record_path(folder, 2)
    record = json.loads(path.read_text())
    del record["signature"]
    path.write_text(json.dumps(record))
    assert "models/iris/gate/2.json: unreadable gate record" in problems(models)


# Strict input: sizes, symlinks, duplicate keys.


def test_a_duplicate_key_in_model_yaml_is_refused_naming_both_lines(models: Path) -> None:
    folder = add_model(models, "iris")
    spec = folder / "model.yaml"
    spec.write_text(spec.read_text() + "replicas:\n  min: 1\n  max: 1\n")
    lines = spec.read_text().splitlines()
    first = lines.index("replicas:") + 1
    assert (
        f"models/iris/model.yaml: duplicate key 'replicas' at line {len(lines) - 2} (first at "
        f"line {first}); the second would silently replace the first"
    ) in problems(models)


def test_an_oversized_model_yaml_is_refused_with_the_limit(models: Path) -> None:
    folder = add_model(models, "iris")
    spec = folder / "model.yaml"
    spec.write_text(spec.read_text() + "#" * MAX_SPEC_BYTES)
    size = spec.stat().st_size
    assert f"models/iris/model.yaml: {size} bytes, over the limit of {MAX_SPEC_BYTES} bytes" in (
        problems(models)
    )


def test_an_oversized_gate_record_is_refused_with_the_limit(models: Path) -> None:
    folder = add_model(models, "iris")
    record = gate_record_path(folder, 2)
    record.write_text(record.read_text() + " " * MAX_RECORD_BYTES)
    assert f"models/iris/gate/2.json: {record.stat().st_size} bytes, over the limit of " in (
        problems(models)
    )


def test_symlinks_under_models_are_refused(models: Path, tmp_path: Path) -> None:
    folder = add_model(models, "iris")
    outside = tmp_path / "elsewhere.json"
    gate_record_path(folder, 2).rename(outside)
    gate_record_path(folder, 2).symlink_to(outside)
    (models / "alias").symlink_to(folder)
    message = problems(models)
    assert (
        "models/iris/gate/2.json: is a symlink; files under models/ must be regular files in "
        "the tree"
    ) in message
    assert "models/alias: is a symlink; a model is a folder in the tree" in message
