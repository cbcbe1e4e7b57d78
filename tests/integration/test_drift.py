"""Drift on the simulated cluster, through the commands a user runs: `make cluster-up` and
`make up` on a copy of the repository, then three changes out of band (a Deployment deleted, an
autoscaler's bound set by another field manager, a Service label edited). `make drift` names all
three, one `make up` heals them, and a second `make drift` is clean."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import copy_repository, user_env
from toolchain.plane.api import Api, ApiError
from toolchain.plane.layout import Layout

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

DEPLOYMENT = "/apis/apps/v1/namespaces/models/deployments/iris-stable"
# iris scales on CPU through our HPA (digits through KEDA, which owns its own).
AUTOSCALER = "/apis/autoscaling/v2/namespaces/models/horizontalpodautoscalers/iris-stable"
SERVICE = "/api/v1/namespaces/models/services/iris-serving"
EDITED_LABEL = "app.kubernetes.io/component"


def make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args], cwd=clone, env=user_env(), capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    clone = copy_repository(tmp_path_factory.mktemp("drift") / "clone")
    started = make(clone, "cluster-up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        deployed = make(clone, "up")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "refresh --yes" in deployed.stdout, "on a cluster, up refreshes first"
        yield clone
    finally:
        make(clone, "cluster-down")


def test_drift_is_named_healed_by_one_up_and_then_clean(clone: Path) -> None:
    api = Api(Layout(clone / "build" / "cluster"))
    api.request("DELETE", DEPLOYMENT)
    api.request(
        "PATCH",
        f"{AUTOSCALER}?fieldManager=someone-else&force=true",
        json.dumps(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "iris-stable", "namespace": "models"},
                "spec": {"maxReplicas": 9},
            }
        ),
        content_type="application/apply-patch+yaml",
    )
    api.request(
        "PATCH",
        SERVICE,
        json.dumps({"metadata": {"labels": {EDITED_LABEL: "hand-edited"}}}),
        content_type="application/merge-patch+json",
    )
    for _ in range(50):  # the Deployment is gone once its finalizers ran
        try:
            api.get(DEPLOYMENT)
        except ApiError as error:
            if error.status == 404:
                break
        time.sleep(0.2)

    drifted = make(clone, "drift")
    assert drifted.returncode != 0, drifted.stdout + drifted.stderr
    summary = (clone / "build/preview-summary-local.md").read_text()
    assert "Refreshed from the cluster, 3 objects differ from the code:" in summary, summary
    assert (
        "| Deployment | `models/iris-stable` | **missing**: deleted out of band; `make up` creates "
        "it again |"
    ) in summary, summary
    assert (
        "| HorizontalPodAutoscaler | `models/iris-stable` | changed out of band: "
        "`spec.maxReplicas`; `make up` sets it back |"
    ) in summary, summary
    assert (
        "| Service | `models/iris-serving` | changed out of band: "
        f'`metadata.labels["{EDITED_LABEL}"]`'
    ) in summary, summary

    started = time.monotonic()
    healed = make(clone, "up")
    heal_seconds = time.monotonic() - started
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "+ 1 created" in healed.stdout and "~ 2 updated" in healed.stdout, healed.stdout
    assert api.get(DEPLOYMENT)["metadata"]["name"] == "iris-stable"
    assert api.get(AUTOSCALER)["spec"]["maxReplicas"] == 6
    assert api.get(SERVICE)["metadata"]["labels"][EDITED_LABEL] == "model-serving"

    clean = make(clone, "drift")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift: refreshed from the cluster, every object matches." in clean.stdout
    print(f"heal by one make up: {heal_seconds:.1f}s")


def test_a_model_moving_from_its_hpa_to_keda_applies_in_one_make_up(clone: Path) -> None:
    """The HPA the update deletes is not seen beside the new ScaledObject by the stack policies
    (with `up --refresh` in one engine run it was, and serving-completeness failed the update)."""
    api = Api(Layout(clone / "build" / "cluster"))
    spec = clone / "models/iris/model.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  metric: cpu\n  target: 70\n", "  metric: requests\n  target: 40\n"
        )
    )
    moved = make(clone, "up")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    scaled_object = "/apis/keda.sh/v1alpha1/namespaces/models/scaledobjects/iris-stable"
    assert api.get(scaled_object)["spec"]["maxReplicaCount"] == 6
    with pytest.raises(ApiError) as gone:
        api.get(AUTOSCALER)
    assert gone.value.status == 404
