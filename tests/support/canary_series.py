"""TF Serving series of a model's canary and stable tracks, as OpenMetrics for
`promtool tsdb create-blocks-from openmetrics`: what Prometheus holds after scraping both tracks'
pods through the model's ServiceMonitor (components.monitoring.scrape), for the canary analysis.

Each track serves a constant request rate, a share of it with a server-error status, and every
request in one latency bucket `(0, high]`, so histogram_quantile interpolates p99 to 0.99 * high:
the p99 each track is given is exactly what Prometheus computes.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from components.catalog.spec import ModelSpec
from components.facts.labels import VERSION_LABEL
from components.monitoring import scrape
from components.serving import builders as serving
from components.serving.builders import TrackName
from tests.support.prometheus_server import PrometheusServer
from tests.support.tf_serving_exporter import SERVING_PORT_NAME, prometheus_label
from toolchain.promtool import ensure_promtool

STEP_SECONDS = 30  # scrape.SCRAPE_INTERVAL


@dataclass(frozen=True)
class TrackLoad:
    requests_per_second: float
    error_fraction: float
    p99_ms: float


def _labels(spec: ModelSpec, namespace: str, track: TrackName, version: int) -> dict[str, str]:
    deployment = serving.object_name(spec, track)
    return {
        "namespace": namespace,
        "service": serving.object_name(spec, "serving"),
        "pod": f"{deployment}-5d8f9c7b6-x2x4q",
        "endpoint": SERVING_PORT_NAME,
        "container": "tfserving",
        "model_name": spec.name,
        scrape.TRACK: track,
        prometheus_label(VERSION_LABEL): str(version),
    }


def _line(metric: str, labels: dict[str, str], value: float, at: int) -> str:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{metric}{{{text}}} {value:.3f} {at}"


def openmetrics(
    spec: ModelSpec,
    namespace: str,
    loads: dict[TrackName, tuple[int, TrackLoad]],
    start: int,
    end: int,
) -> str:
    """Samples every STEP_SECONDS from `start` to `end` (Unix seconds) for each track in `loads`
    (its version and load). Counters start at 0 at `start`."""
    times = range(start, end + 1, STEP_SECONDS)
    counts, buckets = [], []
    for track, (version, load) in loads.items():
        labels = _labels(spec, namespace, track, version)
        high_us = load.p99_ms * 1000 / 0.99
        for status, share in (("OK", 1 - load.error_fraction), ("INTERNAL", load.error_fraction)):
            counts += [
                _line(
                    scrape.REQUEST_COUNT,
                    {**labels, "status": status},
                    load.requests_per_second * share * (t - start),
                    t,
                )
                for t in times
            ]
        for le in ("0", f"{high_us:.3f}", "+Inf"):
            buckets += [
                _line(
                    scrape.REQUEST_LATENCY_BUCKET,
                    {**labels, "API": "predict", "entrypoint": "REST", "le": le},
                    0 if le == "0" else load.requests_per_second * (t - start),
                    t,
                )
                for t in times
            ]
    return "\n".join([*counts, *buckets, "# EOF"]) + "\n"


def create_blocks(text: str, workdir: Path) -> Path:
    """The TSDB directory holding `text`, made by promtool."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "series.om"
    source.write_text(text)
    data = workdir / "data"
    subprocess.run(
        [
            str(ensure_promtool()),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(data),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return data


def recent_span(hours: int = 2) -> tuple[int, int]:
    """A `hours` span ending a minute ago, on whole minutes: recent enough for the default
    retention to keep its blocks."""
    end = (int(time.time()) // 60) * 60 - 60
    return end - hours * 3600, end


def serve(text: str, workdir: Path) -> PrometheusServer:
    """A real Prometheus (toolchain/prometheus.py) serving the series of `text`; it scrapes
    nothing."""
    create_blocks(text, workdir)
    return PrometheusServer.start(workdir, targets=[])
