"""Plan binding on the simulated cluster (issue #17), through the commands a user and the deploy
workflow run on a copy of the repository: a previewed change applied by `make up PLAN=...` does
exactly the plan on the cluster; an object drifted after the preview (a Service label edited out
of band) makes `make up PLAN=...` refuse after its refresh, naming that object, and nothing on the
cluster changes: neither the planned change nor the repair of the drift."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.engine import copy_repository, user_env
from toolchain.plane.api import Api
from toolchain.plane.layout import Layout

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

AUTOSCALER = "/apis/autoscaling/v2/namespaces/models/horizontalpodautoscalers/iris-stable"
SERVICE = "/api/v1/namespaces/models/services/iris-serving"
EDITED_LABEL = "app.kubernetes.io/component"
PLAN = "build/plan-local.json"


def make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args], cwd=clone, env=user_env(), capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    clone = copy_repository(tmp_path_factory.mktemp("plan-cluster") / "clone")
    started = make(clone, "cluster-up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        # The first deploy creates the stack's provider, which no plan can bind: unbound.
        deployed = make(clone, "up")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield clone
    finally:
        make(clone, "cluster-down")


def set_iris_max(clone: Path, high: int) -> None:
    path = clone / "models" / "iris" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["replicas"]["max"] = high
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def preview(clone: Path) -> str:
    """`make preview`; the digest its summary printed."""
    result = make(clone, "preview")
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"\*\*Update plan\*\* `(sha256:[0-9a-f]{64})`", result.stdout)
    assert found, result.stdout
    return found.group(1)


def test_a_previewed_change_is_applied_exactly_on_the_cluster(clone: Path) -> None:
    api = Api(Layout(clone / "build" / "cluster"))
    set_iris_max(clone, 7)
    digest = preview(clone)
    applied = make(clone, "up", f"PLAN={PLAN}", f"PLAN_DIGEST={digest}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "refresh --yes" in applied.stdout, applied.stdout
    assert "[plan] the stack plans exactly the approved plan" in applied.stdout, applied.stdout
    assert "~ 1 updated" in applied.stdout, applied.stdout
    assert api.get(AUTOSCALER)["spec"]["maxReplicas"] == 7


def test_an_object_drifted_after_the_preview_is_refused_and_nothing_changes(clone: Path) -> None:
    api = Api(Layout(clone / "build" / "cluster"))
    set_iris_max(clone, 6)
    digest = preview(clone)
    api.request(
        "PATCH",
        SERVICE,
        json.dumps({"metadata": {"labels": {EDITED_LABEL: "hand-edited"}}}),
        content_type="application/merge-patch+json",
    )
    refused = make(clone, "up", f"PLAN={PLAN}", f"PLAN_DIGEST={digest}")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "[plan] refused: the stack would now do what the approved plan" in output, output
    assert "Service::iris-service: would update, approved: same" in output, output
    assert " up --yes " not in refused.stdout.replace("refresh --yes", ""), output
    # Neither the planned change nor the repair of the drift reached the cluster.
    assert api.get(AUTOSCALER)["spec"]["maxReplicas"] == 7
    assert api.get(SERVICE)["metadata"]["labels"][EDITED_LABEL] == "hand-edited"
