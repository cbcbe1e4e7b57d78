"""Model specs and model folders for tests: the shipped models, changed one field at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.autoscaling.scaled_object import scaled_object
from components.catalog.gate_record import StartupMeasurement, savedmodel_dir, warmup_path
from components.catalog.spec import ModelSpec
from components.serving import builders as serving
from components.serving.builders import Track
from tests.support.mocks import ROOT, STARTUP, record_gate


def spec_of(name: str, **changes: Any) -> ModelSpec:
    raw = yaml.safe_load((ROOT / f"models/{name}/model.yaml").read_text())
    raw.update(changes)
    return ModelSpec.model_validate(raw)


def startup_of(spec: ModelSpec) -> dict[int, StartupMeasurement]:
    """A gate measurement (tests.support.mocks.STARTUP) for each served version of `spec`."""
    return dict.fromkeys(spec.served_versions, STARTUP)


def with_canary() -> ModelSpec:
    return spec_of(
        "iris",
        serving={"active": 2, "canary": {"version": 1, "percent": 50}},
        replicas={"min": 2, "max": 6},
    )


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
        warmup_path(files).parent.mkdir()
        warmup_path(files).write_bytes(f"warmup-{name}-{version}".encode())
        record_gate(folder, version, passed=True)
    return folder


HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
PROMETHEUS = "http://prometheus.test:9090"


def autoscaler_of(spec: ModelSpec, track: Track, namespace: str = "models") -> tuple[str, Any]:
    """The track's autoscaler as the stack registers it: its HPA on cpu, else its ScaledObject."""
    if spec.autoscaling.uses_keda:
        return SCALED_OBJECT, scaled_object(spec, track, namespace, PROMETHEUS)
    return HPA, serving.horizontal_pod_autoscaler(spec, track, namespace)


DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def stack_of(*models: str, services: bool = False) -> list[tuple[str, Any, str]]:
    """The shipped `models`' Deployments and autoscalers (with `services`, their Services and
    disruption budgets too), stable track only, as one stack registers them: (type, object, URN)
    each, for the stack policies."""
    resources: list[tuple[str, Any, str]] = []
    for model in models:
        spec = spec_of(model)
        (track,) = serving.tracks(spec, {v: "x" for v in spec.served_versions}, startup_of(spec))
        resources += [
            (DEPLOYMENT, serving.deployment(spec, track, "models", "cfg"), f"urn:{model}-stable"),
            (*autoscaler_of(spec, track), f"urn:{model}-autoscaler"),
        ]
        if services:
            resources.append(
                ("kubernetes:core/v1:Service", serving.service(spec, "models"), f"urn:{model}-svc")
            )
            budget = serving.pod_disruption_budget(spec, "models")
            if budget:
                resources.append(
                    ("kubernetes:policy/v1:PodDisruptionBudget", budget, f"urn:{model}-pdb")
                )
    return resources
