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


# The fleet-wide change: a TF Serving bump, the pin every model's image is built on. Edited in the
# project copy's pin module, as the pull request that bumps it would.
VERSIONS_MODULE = Path("components/facts/versions.py")
_TF_SERVING_PIN = re.compile(r'^TF_SERVING_VERSION = "([^"]+)"$', re.MULTILINE)


def bumped(version: str) -> str:
    """The next patch release: 2.18.0 -> 2.18.1."""
    *head, patch = version.split(".")
    return ".".join([*head, str(int(patch) + 1)])


def bump_serving_image(project: Path) -> str:
    """Bump TF Serving's pin in a project copy (every model's Deployments change image);
    returns the new version."""
    path = project / VERSIONS_MODULE
    text = path.read_text()
    match = _TF_SERVING_PIN.search(text)
    if match is None:
        raise RuntimeError(f"{path}: no TF_SERVING_VERSION pin to bump")
    new = bumped(match.group(1))
    path.write_text(text[: match.start(1)] + new + text[match.end(1) :])
    return new
