"""KEDA's ScaledObject schema for tests, read from the pinned chart beside the clone
(../shared/charts/keda; read there, never copied into the project) and from the CRD the stack
installs (the operator module's, in the cache)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from components.autoscaling.crds import crd_bodies
from tests.support.mocks import ROOT

CHART = ROOT.parent / "shared" / "charts" / "keda"
CHART_CRD = CHART / "templates" / "crds" / "crd-scaledobjects.yaml"
SCALED_OBJECT_CRD = "scaledobjects.keda.sh"


def chart_crd() -> dict[str, Any]:
    """The chart's ScaledObject CRD: a Helm template whose only template lines are its
    metadata's and the `crds.install` guard around it, dropped here."""
    if not CHART_CRD.is_file():
        pytest.fail(f"the pinned KEDA chart is not at {CHART} (CI has it at ../shared/charts)")
    lines = [line for line in CHART_CRD.read_text().splitlines() if "{{" not in line]
    document: dict[str, Any] = yaml.safe_load("\n".join(lines))
    return document


def schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["served"]]
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found


def validate_scaled_object(body: dict[str, Any]) -> None:
    """Against the chart's CRD and against the one the stack installs (the operator module's):
    the chart's is generated with newer API types and a little stricter (stabilisation windows
    bounded), so an object must pass both."""
    for crd in (chart_crd(), crd_bodies()[SCALED_OBJECT_CRD]):
        jsonschema.Draft7Validator(schema(crd)).validate(body)
