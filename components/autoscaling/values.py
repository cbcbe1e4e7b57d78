"""The KEDA chart's values: keda-values.yaml beside this module, with the keys the code owns
filled in. No Pulumi here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.facts.mirrors import CHART_IMAGES, cached_image_values
from components.facts.versions import KEDA
from components.settings.charts import load_values, merge_values

KEDA_VALUES = Path(__file__).with_name("keda-values.yaml")
KEDA_OWNED = (
    ("crds", "install"),
    ("watchNamespace",),
    *((*path.split("."), "registry") for path, _ in CHART_IMAGES[KEDA.name]),
)
OWNER = "components/autoscaling/values.py sets it"


def keda_values(
    models_namespace: str, image_registry: str | None = None, values_file: Path = KEDA_VALUES
) -> dict[str, Any]:
    """`image_registry`: the ECR registry whose pull-through cache serves KEDA's images (dev and
    prod); None keeps ghcr.io (local)."""
    owned: dict[str, Any] = {"crds": {"install": False}, "watchNamespace": models_namespace}
    if image_registry is not None:
        owned = merge_values(owned, cached_image_values(KEDA.name, image_registry))
    return merge_values(load_values(values_file, KEDA_OWNED, OWNER), owned)


def skipped_warning(key: str) -> str:
    return (
        f"autoscaling: {key} is not set, so the {KEDA.name} chart ({KEDA.version}) is skipped; "
        f"set it to {KEDA.repository} or to a directory holding the chart (`pulumi config set "
        f"{key} ...`). The ScaledObjects of models scaling on serving signals are still "
        "registered, with KEDA's CRDs, but nothing scales them until KEDA runs."
    )
