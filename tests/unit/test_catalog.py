"""The catalog refuses, before any resource exists, every model that cannot deploy, naming why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.catalog import CatalogError, load_catalog
from components.gate_record import gate_record_path, savedmodel_dir
from tests.support import ROOT, record_gate


def add_model(models: Path, name: str, source: str = "iris", **changes: object) -> Path:
    """A model folder with fake SavedModel files and a passing gate record per version."""
    folder = models / name
    folder.mkdir(parents=True)
    raw = yaml.safe_load((ROOT / f"models/{source}/model.yaml").read_text())
    raw.update({"name": name, **changes})
    (folder / "model.yaml").write_text(yaml.safe_dump(raw))
    for version in (v["id"] for v in raw["versions"]):
        files = savedmodel_dir(folder, version)
        (files / "variables").mkdir(parents=True)
        (files / "saved_model.pb").write_bytes(f"{name}-{version}".encode())
        (files / "variables" / "variables.index").write_bytes(b"index")
        record_gate(folder, version, passed=True)
    return folder


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
