"""A real Prometheus server (toolchain/prometheus.py builds it) on loopback, scraping the targets a
test gives it, and its HTTP API for the test's own queries."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.loopback import LoopbackProcess, free_port, wait_for
from toolchain.prometheus import ensure_prometheus


@dataclass
class PrometheusServer:
    url: str
    process: LoopbackProcess

    @classmethod
    def start(
        cls, workdir: Path, targets: list[str], scrape_interval: str = "1s"
    ) -> PrometheusServer:
        """Prometheus scraping each `host:port` of `targets` at `/metrics`, keeping the labels the
        targets write (`honor_labels`, as the platform's ServiceMonitors do for exporters that
        label series with the pod they describe). Its TSDB is `workdir/data`: with no targets, it
        serves what a test put there (tests/support/canary_series.py)."""
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [
                {
                    "job_name": "loopback",
                    "honor_labels": True,
                    "static_configs": [{"targets": targets}],
                }
            ]
            if targets
            else [],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        process = LoopbackProcess.start(
            "prometheus",
            [
                str(ensure_prometheus()),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            workdir,
        )
        server = cls(f"http://127.0.0.1:{port}", process)
        try:
            wait_for("Prometheus ready", server.ready, timeout=60, watched=[process])
        except BaseException:
            process.stop()
            raise
        return server

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
            return bool(reply.status == 200)

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of `expression` now."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
        with urllib.request.urlopen(address, timeout=10) as reply:
            body = json.loads(reply.read())
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {expression!r}: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        """The single value of `expression`, or None when it has no series."""
        result = self.query(expression)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expression!r} has {len(result)} series, not one: {result}")
        return float(result[0]["value"][1])

    def stop(self) -> None:
        self.process.stop()
