"""KEDA's CRDs the stack installs, read from the cache where `make setup` put them
(toolchain/keda_crds.py); the program never fetches or builds anything itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.facts.cache import keda_crds_dir
from components.facts.crd_schema import stored_crd_spec
from components.facts.versions import KEDA_MODULE_VERSION

# The kinds our stacks create, and the rest KEDA's operator watches: a cluster running KEDA
# needs them all, and they cost nothing without it.
CRD_FILES = (
    "keda.sh_scaledobjects.yaml",
    "keda.sh_scaledjobs.yaml",
    "keda.sh_triggerauthentications.yaml",
    "keda.sh_clustertriggerauthentications.yaml",
    "eventing.keda.sh_cloudeventsources.yaml",
    "eventing.keda.sh_clustercloudeventsources.yaml",
)


class KedaCrdsNotSetUp(pulumi.RunError):
    """The CRD files are not in the cache: setup has not run on this machine."""


def crd_files(version: str = KEDA_MODULE_VERSION) -> list[Path]:
    folder = keda_crds_dir(version)
    files = [folder / name for name in CRD_FILES]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise KedaCrdsNotSetUp(
            f"the KEDA {version} CRDs are not set up on this machine (missing "
            f"{', '.join(missing)}); run `make setup` (or `python3 -m toolchain.keda_crds "
            "setup`), which fetches them once through the Go module proxy"
        )
    return files


def crd_bodies(version: str = KEDA_MODULE_VERSION) -> dict[str, dict[str, Any]]:
    """KEDA's CRDs by name (`scaledobjects.keda.sh`), as metadata and spec (without the schema's
    prose: components/facts/crd_schema.py)."""
    bodies = {}
    for path in crd_files(version):
        document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        name = document["metadata"]["name"]
        bodies[name] = {"metadata": document["metadata"], "spec": stored_crd_spec(document["spec"])}
    return bodies
