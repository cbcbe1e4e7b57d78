"""An interrupted `make up` on the simulated cluster (issue #14, "Interruptions"): `kill -9` of
`pulumi up` while it waits for a model's Deployment, already in the cluster, to become ready.
No plugin process (the Kubernetes provider was waiting on the rollout) outlives the run; the next
`make up` says what was left, clears the stale lock and the pending create, and deploys: the
provider applies to the Deployment the killed run created instead of failing on it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.engine_processes import marked_processes
from tests.support.engine import copy_repository, user_env
from tests.support.interrupt import (
    alive,
    checkpoint,
    kill_up_when,
    pending_custom_creates,
    stop_processes_in,
)
from toolchain.plane.api import Api, ApiError
from toolchain.plane.layout import Layout

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

DEPLOYMENT = "iris-stable"
DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/models/deployments/{DEPLOYMENT}"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


def make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args], cwd=clone, env=user_env(), capture_output=True, text=True, timeout=900
    )


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    clone = copy_repository(tmp_path / "clone")
    started = make(clone, "cluster-up")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield clone
    finally:
        make(clone, "cluster-down")
        stop_processes_in(clone)


def test_up_killed_while_a_deployment_rolls_out_is_recovered_by_the_next_up(clone: Path) -> None:
    api = Api(Layout(clone / "build" / "cluster"))

    def deployment_created_not_recorded() -> bool:
        pending = [
            op
            for op in pending_custom_creates(clone)
            if op["resource"]["type"] == DEPLOYMENT_TYPE
            and op["resource"]["urn"].endswith(f"::{DEPLOYMENT}")
        ]
        if not pending:
            return False
        try:
            api.get(DEPLOYMENT_PATH)
        except ApiError:
            return False
        return True

    killed = kill_up_when(
        clone,
        f"{DEPLOYMENT} in the cluster, still a pending create",
        deployment_created_not_recorded,
    )
    survivors = [p for p in killed.plugins if alive(p)]
    assert not survivors, f"outlived the killed `pulumi up`: {survivors}\n{killed.output}"
    assert "[engine] `pulumi up` was killed by signal 9 (SIGKILL)" in killed.output

    up = make(clone, "up")
    output = up.stdout + up.stderr
    print(
        "[interrupted on cluster] "
        + "\n[interrupted on cluster] ".join(
            line for line in output.splitlines() if line.startswith("[recover]")
        )
    )
    assert up.returncode == 0, output
    assert "[recover]   done: pulumi --non-interactive cancel --yes --stack local" in output
    # The kill lands a moment after the check above: on a loaded machine the engine may record
    # iris-stable's create in between, so what must be reported is every Deployment create the
    # kill really left pending (at least one: digits-stable's, when iris-stable's got recorded).
    deployments = [
        op["resource"]["urn"].rsplit("::", 1)[-1]
        for op in killed.pending
        if op["resource"]["type"] == DEPLOYMENT_TYPE
    ]
    assert deployments, f"the kill left no Deployment create pending:\n{killed.output}"
    for name in deployments:
        assert f"[recover]     creating {DEPLOYMENT_TYPE} {name}" in output, output
    assert "--clear-pending-creates" in output and "refresh --yes --skip-preview" in output, output
    assert not checkpoint(clone).get("pending_operations")
    for name in {DEPLOYMENT, *deployments}:
        recorded = [r for r in checkpoint(clone)["resources"] if r["urn"].endswith(f"::{name}")]
        assert recorded and recorded[0]["outputs"]["status"]["readyReplicas"] >= 1, recorded
    assert not [p for p in marked_processes() if str(clone.resolve()) in p.run]
