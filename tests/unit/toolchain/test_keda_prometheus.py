"""The Prometheus server and KEDA builds (toolchain/prometheus.py, toolchain/keda.py), and the
loopback exporter the KEDA test feeds Prometheus from (tests/support/tf_serving_exporter.py)."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from components.facts.labels import TRACK_LABEL, VERSION_LABEL
from components.facts.versions import KEDA_MODULE_VERSION, PROMETHEUS_RELEASE
from components.monitoring.scrape import REQUEST_COUNT, TRACK
from tests.support.tf_serving_exporter import TfServingExporter
from toolchain import keda
from toolchain.keda import KEDA, METRICS_API_SERVER, OPERATOR
from toolchain.prometheus import PROMETHEUS, prometheus_path
from toolchain.promtool import PROMTOOL, ensure_promtool


def test_prometheus_is_built_from_promtools_module_with_its_flags() -> None:
    # Same module, version and flags: the two share Go's build cache, and report one release.
    assert (PROMETHEUS.module, PROMETHEUS.version, PROMETHEUS.ldflags) == (
        PROMTOOL.module,
        PROMTOOL.version,
        PROMTOOL.ldflags,
    )
    assert PROMETHEUS.package == "./cmd/prometheus"
    assert prometheus_path().parent.parent.name == f"prometheus-{PROMETHEUS_RELEASE}"


def test_kedas_operator_and_metrics_api_server_come_from_one_build() -> None:
    assert KEDA.binaries == {OPERATOR: "./cmd/operator", METRICS_API_SERVER: "./cmd/adapter"}
    assert KEDA.version == KEDA_MODULE_VERSION
    assert keda.keda_bin_dir().parent.name == f"keda-{KEDA_MODULE_VERSION[1:]}"


def test_keda_path_fails_until_both_binaries_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(keda, "CACHE_ROOT", tmp_path)
    assert keda.main(["keda", "path"]) == 1
    assert "run python3 -m toolchain.keda setup" in capsys.readouterr().out
    keda.keda_bin_dir().mkdir(parents=True)
    keda.keda_path(OPERATOR).write_text("")
    assert keda.main(["keda", "path"]) == 1
    keda.keda_path(METRICS_API_SERVER).write_text("")
    capsys.readouterr()
    assert keda.main(["keda", "path"]) == 0
    assert capsys.readouterr().out == f"{keda.keda_bin_dir()}\n"


def pod(name: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "models",
            "labels": {TRACK_LABEL: "stable", VERSION_LABEL: "1"},
        },
        "spec": {"containers": [{"name": "serving"}]},
        "status": {"conditions": [{"type": "Ready", "status": str(ready)}]},
    }


@pytest.mark.gobuild
def test_the_exporter_serves_valid_tf_serving_counters_for_ready_pods_only(
    tmp_path: Path,
) -> None:
    pods = [pod("digits-stable-5d9c7-a1b2c"), pod("digits-stable-5d9c7-z9y8x", ready=False)]
    exporter = TfServingExporter(model="digits", service="digits-serving", pods=lambda: pods)
    exporter.start()
    try:
        exporter.set_rate(1000)
        with urllib.request.urlopen(f"http://{exporter.address}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    finally:
        exporter.stop()
    check = subprocess.run(
        [str(ensure_promtool()), "check", "metrics"], input=text, capture_output=True, text=True
    )
    # Exit 1 is a parse error; 3 only lint advice, which TF Serving's own names draw (no `_total`
    # on counters, `:` in names: scrape.py), so the series are exactly as TF Serving writes them.
    assert check.returncode in (0, 3), check.stdout + check.stderr
    assert "parsing error" not in check.stdout + check.stderr
    [series] = [line for line in text.splitlines() if line.startswith(REQUEST_COUNT)]
    assert 'pod="digits-stable-5d9c7-a1b2c"' in series and "z9y8x" not in text
    assert f'{TRACK}="stable"' in series and 'model_name="digits"' in series
    assert float(series.rsplit(" ", 1)[1]) > 0
