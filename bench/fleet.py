"""Synthetic fleets: N valid model folders, each with fake SavedModel files and a passing gate
record whose digest matches them, so the catalog accepts them without TensorFlow."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from tests.support.specs import add_model

# Every synthetic model is a copy of this shipped spec: on CPU (so the stack's GPU budget policy
# holds at any N), two declared versions, replicas.min 2. That is 2 components and 10 objects a
# model: a ModelService with ServiceAccount, ConfigMap, Deployment, HPA, Service,
# PodDisruptionBudget and NetworkPolicy, and a ModelMonitoring with ServiceMonitor, PrometheusRule
# and dashboard ConfigMap.
TEMPLATE = "iris"


def model_name(index: int) -> str:
    return f"bench-{index:04d}"


def write_fleet(project: Path, size: int) -> list[str]:
    """Replace the models of a project copy by `size` synthetic ones; returns their names."""
    models = project / "models"
    for folder in models.iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    names = [model_name(index) for index in range(size)]
    for name in names:
        add_model(models, name, source=TEMPLATE)
    return names


def change_version(project: Path, name: str) -> None:
    """Serve the model's other declared version: the one-line edit of a rollback pull request."""
    path = project / "models" / name / "model.yaml"
    raw = yaml.safe_load(path.read_text())
    active = raw["serving"]["active"]
    other = next(version["id"] for version in raw["versions"] if version["id"] != active)
    raw["serving"] = {**raw["serving"], "active": other}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


# The fleet-wide change: a label added to every object of every model, as a pull request that
# adds one to components/serving/builders.py's model_labels would: 10 objects a model. (A TF
# Serving bump changes each model's image tag since 336e08d, so it now changes only the
# Deployments: a label is the wider change.)
BUILDERS_MODULE = Path("components/serving/builders.py")
FLEET_LABEL = "gpu-model-platform/fleet-revision"
_MODEL_LABELS = re.compile(r"^def model_labels\(.*?^    \}$", re.MULTILINE | re.DOTALL)


def label_every_model(project: Path) -> None:
    """Add FLEET_LABEL to model_labels in a project copy: every model's objects change."""
    path = project / BUILDERS_MODULE
    text = path.read_text()
    match = _MODEL_LABELS.search(text)
    if match is None:
        raise RuntimeError(f"{path}: no model_labels returning a dict to add a label to")
    end = match.end() - len("    }")
    path.write_text(f'{text[:end]}        "{FLEET_LABEL}": "2",\n{text[end:]}')
