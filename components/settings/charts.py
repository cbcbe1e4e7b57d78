"""The monitoring Helm charts, pinned, and where a stack gets them from.

Helm repositories cannot be reached from every machine (the `local` stack is often offline), so
each chart comes from a source set in stack config: a Helm repository URL (https:// or oci://),
or a directory holding the chart at the pinned version (`helm pull --untar` of it, with its
dependencies under charts/). components.settings.model validates the sources;
components.monitoring deploys them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.facts.versions import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, ChartPin
from components.facts.yaml_input import InputError, load_yaml

__all__ = ["DCGM_EXPORTER", "KUBE_PROMETHEUS_STACK", "ChartPin"]


REMOTE_SCHEMES = ("https://", "http://", "oci://")


@dataclass(frozen=True)
class ChartSource:
    """Where helm.v3.Chart takes a chart from: `chart` is a name, an oci:// reference or a
    directory (then `version` and `repository` are None)."""

    chart: str
    version: str | None
    repository: str | None

    @property
    def is_directory(self) -> bool:
        return self.version is None


def is_remote(source: str) -> bool:
    return source.startswith(REMOTE_SCHEMES)


def local_chart_problem(source: str, pin: ChartPin, project: Path) -> str | None:
    """Why the directory `source` is not the pinned chart, or None when it is."""
    directory = Path(source).expanduser()
    directory = directory if directory.is_absolute() else project / directory
    chart_file = directory / "Chart.yaml"
    if not chart_file.is_file():
        return (
            f"{source!r} is neither a Helm repository URL ({', '.join(REMOTE_SCHEMES)}) nor a "
            f"chart directory (no {chart_file}); `helm pull {pin.name} --repo {pin.repository} "
            f"--version {pin.version} --untar` makes one"
        )
    try:
        chart = load_yaml(chart_file.read_text(), str(chart_file)) or {}
    except InputError as error:
        return str(error)
    found = (chart.get("name"), str(chart.get("version")))
    if found != (pin.name, pin.version):
        return (
            f"{chart_file} is {found[0]} {found[1]}; the platform pins {pin.name} {pin.version} "
            "(components/facts/versions.py)"
        )
    return None


def chart_source(source: str, pin: ChartPin) -> ChartSource:
    """The chart arguments for a validated, non-empty source."""
    if source.startswith("oci://"):
        return ChartSource(f"{source.rstrip('/')}/{pin.name}", pin.version, None)
    if is_remote(source):
        return ChartSource(pin.name, pin.version, source)
    # A local chart is what it is; its version was checked against the pin (local_chart_problem).
    # A relative directory stays relative (state must not depend on where the clone is); Helm
    # takes `./x` for a directory, where `x/y` could be read as a repository's chart.
    directory = Path(source).expanduser()
    chart = str(directory) if directory.is_absolute() else f"./{directory.as_posix()}"
    return ChartSource(chart, None, None)


def load_values(
    values_file: Path, owned: tuple[tuple[str, ...], ...], owner: str
) -> dict[str, Any]:
    """A chart's values file, refused when it sets a key the code owns (`owner` says who)."""
    values: dict[str, Any] = load_yaml(values_file.read_text(), values_file.name) or {}
    for path in owned:
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            raise ValueError(f"{values_file.name} sets {'.'.join(path)}: {owner}")
    return values


def merge_values(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, merging nested mappings key by key (as Helm merges values)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged
