"""The monitoring Helm charts, pinned, and where a stack gets them from.

Helm repositories cannot be reached from every machine (the `local` stack is often offline), so
each chart comes from a source set in stack config: a Helm repository URL (https:// or oci://),
or a directory holding the chart at the pinned version (`helm pull --untar` of it, with its
dependencies under charts/). components.config validates the sources; components.monitoring
deploys them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ChartPin:
    name: str
    version: str
    repository: str
    """Where the chart is published, for docs and errors; stack config says where to get it."""


# kube-prometheus-stack 77.14.0 is the last release deploying prometheus-operator v0.85.0
# (77.0.0 to 77.14.0 do; 78.0.0 moves to v0.86.0), the operator whose CRDs tools/operator_crds.py
# pins: the CRDs, the operator reading them and our objects must agree. It deploys Prometheus
# v3.6.0, whose promtool (tools/promtool.py) checks our rules.
KUBE_PROMETHEUS_STACK = ChartPin(
    name="kube-prometheus-stack",
    version="77.14.0",
    repository="https://prometheus-community.github.io/helm-charts",
)
# dcgm-exporter 4.8.2 deploys the exporter image 4.5.3-4.8.2 (DCGM 4.5.3).
DCGM_EXPORTER = ChartPin(
    name="dcgm-exporter",
    version="4.8.2",
    repository="https://nvidia.github.io/dcgm-exporter/helm-charts",
)

REMOTE_SCHEMES = ("https://", "http://", "oci://")


@dataclass(frozen=True)
class ChartSource:
    """Arguments of a helm.v4.Chart: `chart` is a name, an oci:// reference or a directory."""

    chart: str
    version: str | None
    repository: str | None


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
        chart = yaml.safe_load(chart_file.read_text()) or {}
    except yaml.YAMLError as error:
        return f"{chart_file} is not valid YAML: {error}"
    found = (chart.get("name"), str(chart.get("version")))
    if found != (pin.name, pin.version):
        return (
            f"{chart_file} is {found[0]} {found[1]}; the platform pins {pin.name} {pin.version} "
            "(components/charts.py)"
        )
    return None


def chart_source(source: str, pin: ChartPin) -> ChartSource:
    """The helm.v4.Chart arguments for a validated, non-empty source."""
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
