"""A loopback HTTP exporter of TF Serving-shaped series for a model's simulated pods.

KWOK's pods run no TF Serving, so nothing on the simulated cluster counts requests. This exporter
stands in for the model's serving pods as Prometheus would see them through the model's
ServiceMonitor (components.monitoring.scrape): one `:tensorflow:serving:request_count` counter per
ready pod of the model, labelled with the pod's name and namespace, the Service, the endpoint, the
model name, `status="OK"` and the pod's track and version labels. The test sets the model's total
request rate; each ready pod's counter grows by its share of it, from the moment of each scrape.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from components.facts.labels import TRACK_LABEL, VERSION_LABEL
from components.monitoring.scrape import REQUEST_COUNT, TRACK

SERVING_PORT_NAME = "http"  # the ServiceMonitor's endpoint port (scrape.service_monitor)


def prometheus_label(pod_label: str) -> str:
    """A pod label as the operator's podTargetLabels write it: `_` for what Prometheus refuses."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


@dataclass
class TfServingExporter:
    """Serves `/metrics` on 127.0.0.1 (`address`); `pods()` lists the model's pods (API objects)."""

    model: str
    service: str
    pods: Callable[[], list[dict[str, Any]]]
    rate: float = 0.0
    """Requests per second, summed over the model's ready pods."""
    counters: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _ready: list[dict[str, Any]] = field(default_factory=list)
    """The ready pods at the last scrape, whose series it served."""

    def __post_init__(self) -> None:
        assert prometheus_label(TRACK_LABEL) == TRACK, "scrape.TRACK names the track label"

    @property
    def address(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def set_rate(self, requests_per_second: float) -> None:
        with self._lock:
            self._advance()
            self.rate = requests_per_second

    def _advance(self) -> None:
        """Every counter of a ready pod grows by its share of the rate since the last call."""
        now = time.monotonic()
        ready = [p for p in self.pods() if is_ready(p)]
        for pod in ready:
            name = pod["metadata"]["name"]
            share = self.rate * (now - self._last) / len(ready)
            self.counters[name] = self.counters.get(name, 0.0) + share
        self._last = now
        self._ready = ready

    def exposition(self) -> str:
        with self._lock:
            self._advance()
            lines = [f"# TYPE {REQUEST_COUNT} counter"]
            for pod in self._ready:
                metadata = pod["metadata"]
                labels = {
                    "namespace": metadata["namespace"],
                    "pod": metadata["name"],
                    "service": self.service,
                    "endpoint": SERVING_PORT_NAME,
                    "container": pod["spec"]["containers"][0]["name"],
                    "model_name": self.model,
                    "status": "OK",
                    TRACK: metadata["labels"].get(TRACK_LABEL, ""),
                    prometheus_label(VERSION_LABEL): metadata["labels"].get(VERSION_LABEL, ""),
                }
                text = ",".join(f'{key}="{value}"' for key, value in labels.items())
                lines.append(f"{REQUEST_COUNT}{{{text}}} {self.counters[metadata['name']]:.3f}")
            return "\n".join(lines) + "\n"

    def start(self) -> TfServingExporter:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    deleting = "deletionTimestamp" in pod["metadata"]
    return not deleting and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
