"""The prometheus-operator CRDs the stack installs, read from the cache where `make setup` put them
(toolchain/operator_crds.py); the program never fetches or builds anything itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.facts.cache import operator_crds_dir
from components.facts.crd_schema import stored_crd_spec
from components.facts.versions import PROMETHEUS_OPERATOR

# The kinds our stacks create, by the plural the CRD files are named after.
CRD_PLURALS = ("servicemonitors", "prometheusrules")
# Every kind the operator reads: a cluster running the operator needs them all.
OPERATOR_CRD_PLURALS = (
    "alertmanagerconfigs",
    "alertmanagers",
    "podmonitors",
    "probes",
    "prometheusagents",
    "prometheuses",
    "prometheusrules",
    "scrapeconfigs",
    "servicemonitors",
    "thanosrulers",
)


class CrdsNotSetUp(pulumi.RunError):
    """The CRD files are not in the cache: setup has not run on this machine."""


def crd_files(
    plurals: tuple[str, ...] = CRD_PLURALS, version: str = PROMETHEUS_OPERATOR
) -> dict[str, Path]:
    """The cached CRD file of each kind in `plurals`."""
    folder = operator_crds_dir(version)
    files = {plural: folder / f"monitoring.coreos.com_{plural}.yaml" for plural in plurals}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise CrdsNotSetUp(
            f"the prometheus-operator {version} CRDs are not set up on this machine (missing "
            f"{', '.join(missing)}); run `make setup` (or `python3 -m toolchain.operator_crds "
            "setup`), which fetches them once through the Go module proxy"
        )
    return files


class CrdLoader(yaml.CSafeLoader):
    """YAML 1.1's `=` "value" tag, which PyYAML cannot construct, is plain text in the CRDs (an
    enum of matcher operators); libyaml's parser keeps the megabytes of CRDs quick to load."""


CrdLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def crd_bodies(plurals: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The pinned operator's CRDs, by plural, as metadata and spec (without the schema's prose:
    components/facts/crd_schema.py)."""
    bodies = {}
    for plural, path in crd_files(plurals).items():
        document = yaml.load(path.read_text(), Loader=CrdLoader)
        bodies[plural] = {
            "metadata": document["metadata"],
            "spec": stored_crd_spec(document["spec"]),
        }
    return bodies


@dataclass(frozen=True)
class ChartCapabilities:
    """What a chart is rendered for: Helm's `.Capabilities.KubeVersion`, and the API versions the
    stack provides beyond Kubernetes' own (Helm adds these to its built-in set), each as
    `group/version` and `group/version/Kind`, the forms `.Capabilities.APIVersions.Has` takes."""

    kube_version: str
    api_versions: tuple[str, ...]

    @classmethod
    def of(cls, kube_version: str, crds: Iterable[Mapping[str, Any]]) -> ChartCapabilities:
        found: set[str] = set()
        for crd in crds:
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    group_version = f"{spec['group']}/{version['name']}"
                    found |= {group_version, f"{group_version}/{spec['names']['kind']}"}
        return cls(kube_version, tuple(sorted(found)))
