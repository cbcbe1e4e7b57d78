"""Every image of the pinned charts goes through the stack's pull-through cache on dev and prod:
components/facts/mirrors.py lists each image block of the charts' values.yaml (read here from
../shared/charts), and the values builders point each at the cache of its upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.autoscaling.values import keda_values
from components.facts import mirrors
from components.monitoring.values import prometheus_stack_values
from components.settings.monitoring import PrometheusResources
from policies.rules.kubernetes.image_provenance import under
from tests.support.engine import ROOT

SHARED_CHARTS = ROOT.parent / "shared" / "charts"
SUBCHARTS = (
    "grafana",
    "kube-state-metrics",
    "prometheus-node-exporter",
    "prometheus-windows-exporter",
)
HOST = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"


def image_blocks(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    if isinstance(values, dict):
        if "registry" in values and "repository" in values:
            yield ".".join(path), values["registry"]
        for key, value in values.items():
            yield from image_blocks(value, (*path, key))


def chart_values(folder: Path) -> Any:
    return yaml.safe_load((folder / "values.yaml").read_text())


@pytest.fixture(scope="module")
def charts() -> Path:
    if not (SHARED_CHARTS / "kube-prometheus-stack" / "Chart.yaml").is_file():
        pytest.skip(f"the pinned charts are not beside the clone ({SHARED_CHARTS})")
    return SHARED_CHARTS


def test_every_image_block_of_the_charts_is_listed_with_its_upstream(charts: Path) -> None:
    stack = charts / "kube-prometheus-stack"
    found = {("kube-prometheus-stack", p, r) for p, r in image_blocks(chart_values(stack))}
    for sub in SUBCHARTS:
        blocks = image_blocks(chart_values(stack / "charts" / sub))
        found |= {("kube-prometheus-stack", f"{sub}.{p}", r) for p, r in blocks}
    found |= {("keda", p, r) for p, r in image_blocks(chart_values(charts / "keda"))}
    listed = {
        (chart, p, host) for chart, blocks in mirrors.CHART_IMAGES.items() for p, host in blocks
    }
    unused = {(c, p) for c, p, _ in found} & set(mirrors.UNUSED_IMAGE_BLOCKS)
    assert {f for f in found if f[:2] not in unused} == listed
    assert unused == set(mirrors.UNUSED_IMAGE_BLOCKS)
    # The charts ECR cannot cache name their image in `repository`, on nvcr.io.
    for chart in ("dcgm-exporter", "nvidia-device-plugin"):
        image = chart_values(charts / chart)["image"]
        assert "registry" not in image and image["repository"].startswith("nvcr.io/"), chart


def at(values: dict[str, Any], path: str) -> dict[str, Any]:
    for key in path.split("."):
        values = values[key]
    return values


def test_on_aws_every_listed_image_is_pulled_through_its_upstreams_cache() -> None:
    built = {
        "kube-prometheus-stack": prometheus_stack_values(
            "15d", PrometheusResources(cpu="1", memory="1Gi"), [], "s", "node-agents", HOST
        ),
        "keda": keda_values("models", HOST),
    }
    for chart, blocks in mirrors.CHART_IMAGES.items():
        for path, host in blocks:
            registry = at(built[chart], path)["registry"]
            assert registry == f"{HOST}/{mirrors.UPSTREAM_BY_HOST[host].prefix}", (chart, path)
            # What image-provenance makes of it on dev and prod (policies/config/dev.json).
            assert under(f"{registry}/some/image", ["*.dkr.ecr.*.amazonaws.com"]), path


def test_local_keeps_the_upstream_registries() -> None:
    stack = prometheus_stack_values(
        "15d", PrometheusResources(cpu="1", memory="1Gi"), [], "s", "node-agents"
    )
    assert "image" not in stack["prometheus"]["prometheusSpec"]
    assert "image" not in stack["grafana"]
    assert "image" not in keda_values("models")
