"""`make analyze` through the real engine: a canary deployed beside stable, promoted by the
analysis against a real Prometheus, and the preview after it touches only that model."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.analyze import EXIT_VERDICT, main
from components.catalog.load import parse_spec
from components.serving.builders import TrackName
from tests.support.canary_series import TrackLoad, openmetrics, recent_span, serve
from tests.support.engine import LocalStack, edit_spec

# The engine, and Prometheus and promtool built from their Go module.
pytestmark = [pytest.mark.engine, pytest.mark.gobuild]

NAMESPACE = "models"  # Pulumi.yaml's default modelsNamespace, which the local stack keeps


def test_the_preview_after_a_promote_touches_only_that_model(tmp_path: Path) -> None:
    stack = LocalStack.create(tmp_path)
    edit_spec(
        stack,
        "iris",
        serving={"active": 2, "canary": {"version": 1, "percent": 50}},
        replicas={"min": 2, "max": 6},
    )
    stack.up()
    spec_file = stack.project / "models/iris/model.yaml"
    spec, problems = parse_spec(spec_file.read_text(), "model.yaml")
    assert spec is not None, problems
    start, end = recent_span()
    loads: dict[TrackName, tuple[int, TrackLoad]] = {
        "stable": (2, TrackLoad(4, 0.0002, 25)),
        "canary": (1, TrackLoad(2, 0.0005, 20)),
    }
    server = serve(openmetrics(spec, NAMESPACE, loads, start, end), tmp_path / "prometheus")
    try:
        code = main(["iris", "--prometheus-url", server.url, "--at", str(end)], root=stack.project)
    finally:
        server.stop()
    assert code == EXIT_VERDICT
    promoted, problems = parse_spec(spec_file.read_text(), "model.yaml")
    assert promoted is not None, problems
    assert promoted.serving.active == 1 and promoted.serving.canary is None
    steps = {urn.rsplit("::", 1)[1]: op for urn, op in stack.preview_steps().items()}
    # The canary's objects go, stable takes its version and its autoscaler the whole bounds.
    assert steps == {
        "iris-canary": "delete",
        "iris-canary-autoscaler": "delete",
        "iris-stable": "update",
        "iris-stable-autoscaler": "update",
    }, steps
