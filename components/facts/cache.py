"""Where `make setup` keeps what it builds or fetches, outside the clone, so the deploy program
can read it without building anything: ${XDG_CACHE_HOME:-~/.cache}/gpu-model-platform."""

from __future__ import annotations

import os
from pathlib import Path

from components.facts.versions import KEDA_MODULE_VERSION, PROMETHEUS_OPERATOR


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpu-model-platform"


def operator_crds_dir(version: str = PROMETHEUS_OPERATOR) -> Path:
    """The prometheus-operator CRD files of `version`, copied here by `make setup`."""
    return cache_root() / f"prometheus-operator-crds-{version}"


def keda_crds_dir(version: str = KEDA_MODULE_VERSION) -> Path:
    """KEDA's CRD files (ScaledObject, ...) of `version`, copied here by `make setup`."""
    return cache_root() / f"keda-crds-{version}"
