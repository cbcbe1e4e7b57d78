"""commands.recover's readings of a checkpoint, a render directory and a file backend's locks, on
hand-made fixtures; the engine tests (tests/integration/test_interrupted*.py) kill real runs."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from commands import backend_state, recover
from commands.engine_processes import program_name
from commands.recover import (
    file_locks,
    neighbours,
    orphan_manifests,
    owned_objects,
    render_dirs,
)

PROVIDER = {
    "urn": "urn:pulumi:local::gpu-model-platform::pulumi:providers:kubernetes::local-kubernetes",
    "type": "pulumi:providers:kubernetes",
    "inputs": {"renderYamlToDirectory": "build/manifests/local"},
}


def deployment_of(*objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "resources": [
            PROVIDER,
            *(
                {"urn": f"urn:...::{o['metadata']['name']}", "type": "kubernetes:x", "outputs": o}
                for o in objects
            ),
        ]
    }


def write(folder: Path, name: str, manifest: dict[str, Any]) -> Path:
    path = folder / "build" / "manifests" / "local" / "1-manifest" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))  # JSON is YAML
    return path


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "iris", "namespace": "models"},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}}


def test_a_manifest_no_resource_owns_is_an_orphan_and_owned_ones_are_not(tmp_path: Path) -> None:
    deployment = deployment_of(SERVICE, NAMESPACE)
    write(tmp_path, "v1-service-models-iris.yaml", SERVICE)
    write(tmp_path, "v1-namespace-default-models.yaml", NAMESPACE)
    other = {**SERVICE, "metadata": {"name": "digits", "namespace": "models"}}
    orphan = write(tmp_path, "v1-service-models-digits.yaml", other)
    elsewhere = {**SERVICE, "metadata": {"name": "iris", "namespace": "gpu-platform"}}
    orphan_elsewhere = write(tmp_path, "v1-service-gpu-platform-iris.yaml", elsewhere)

    dirs = render_dirs(deployment, tmp_path)
    assert dirs == [tmp_path / "build" / "manifests" / "local"]
    assert orphan_manifests(dirs, owned_objects(deployment)) == [orphan_elsewhere, orphan]


@pytest.mark.parametrize("backend", ["file", "s3"])
def test_a_manifest_another_stack_rendering_there_owns_is_no_orphan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """A platform stack and its models stacks share a render directory (docs/fleet-scale.md):
    iris's Service, held by a models stack, is not an orphan of the platform stack, nor the
    platform's namespace one of the models stack's. A stack rendering elsewhere owns nothing
    here. On a file backend the states are read from its files (one gzipped, as with
    PULUMI_DIY_BACKEND_GZIP), elsewhere through `pulumi stack export`."""
    platform = deployment_of(NAMESPACE)
    models = deployment_of(SERVICE)
    digits = {**SERVICE, "metadata": {"name": "digits", "namespace": "models"}}
    elsewhere = deployment_of(digits)
    elsewhere["resources"][0] = {**PROVIDER, "inputs": {"renderYamlToDirectory": "other"}}
    states = {"local": platform, "local.models-tabular": models, "dev": elsewhere}
    project = tmp_path / "project"
    write(project, "v1-service-models-iris.yaml", SERVICE)
    write(project, "v1-namespace-default-models.yaml", NAMESPACE)
    orphan = write(project, "v1-service-models-digits.yaml", digits)

    if backend == "file":
        stacks = tmp_path / "state" / ".pulumi" / "stacks" / "gpu-model-platform"
        stacks.mkdir(parents=True)
        for stack, deployment in states.items():
            text = json.dumps({"version": 3, "checkpoint": {"stack": stack, "latest": deployment}})
            if stack == "dev":
                (stacks / f"{stack}.json.gz").write_bytes(gzip.compress(text.encode()))
            else:
                (stacks / f"{stack}.json").write_text(text)
        (stacks / "local.json.bak").write_text("not a state")
        monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
        monkeypatch.setattr(backend_state, "export", None)  # never run
    else:
        monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://states")

        def export(stack: str) -> subprocess.CompletedProcess[str]:
            text = json.dumps({"deployment": states[stack]})
            return subprocess.CompletedProcess(["pulumi", "stack", "export"], 0, text, "")

        monkeypatch.setattr(recover, "project_stacks", lambda: list(states))
        monkeypatch.setattr(backend_state, "export", export)
    dirs = render_dirs(platform, project)
    for stack in ("local", "local.models-tabular"):
        others = neighbours(stack, dirs, project, "gpu-model-platform")
        owned = owned_objects(states[stack]) | others.owned
        assert orphan_manifests(dirs, owned) == [orphan], stack
        assert others.updating == []
        if backend == "file":
            assert recover.own_deployment(stack, "gpu-model-platform") == states[stack]


def test_a_cluster_stack_has_no_render_directory(tmp_path: Path) -> None:
    deployment = deployment_of(SERVICE)
    deployment["resources"][0] = {**PROVIDER, "inputs": {"kubeconfig": "..."}}
    assert render_dirs(deployment, tmp_path) == []


def lock(backend: Path, pid: int, host: str) -> None:
    folder = backend / ".pulumi" / "locks" / "organization" / "gpu-model-platform" / "local"
    folder.mkdir(parents=True)
    raw = {"pid": pid, "username": "me", "hostname": host, "timestamp": "2026-12-03T08:02:02.26Z"}
    (folder / "1d8e08a6.json").write_text(json.dumps(raw))


def test_a_lock_whose_pulumi_is_gone_is_stale(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock(tmp_path, int(gone.stdout), socket.gethostname())
    [found] = file_locks(tmp_path.as_uri(), "gpu-model-platform", "local")
    assert found.state() == "gone"
    assert found.holder() == (
        f"pulumi pid {gone.stdout.strip()}, me@{socket.gethostname()}, started 2026-12-03T08:02:02Z"
    )


def test_a_lock_held_by_a_live_process_that_is_not_pulumi_is_stale_too(tmp_path: Path) -> None:
    # This test's own pid: alive, but python, not pulumi (a pid reused after pulumi died).
    lock(tmp_path, os.getpid(), socket.gethostname())
    [found] = file_locks(tmp_path.as_uri(), "gpu-model-platform", "local")
    assert found.state() == "gone"


def test_a_lock_from_another_host_is_left_alone(tmp_path: Path) -> None:
    lock(tmp_path, 1, "another-host")
    [found] = file_locks(tmp_path.as_uri(), "gpu-model-platform", "local")
    assert found.state() == "elsewhere"
    assert file_locks(tmp_path.as_uri(), "gpu-model-platform", "prod") == []
    assert file_locks("s3://bucket", "gpu-model-platform", "local") == []


def test_plugins_are_named_by_their_program() -> None:
    bin_dir = "/root/.cache/gpu-model-platform/x/bin"
    assert program_name(f"{bin_dir}/pulumi-language-python 127.0.0.1:1") == (
        "pulumi-language-python"
    )
    assert program_name(f"/bin/sh {bin_dir}/pulumi-analyzer-policy-python 127.0.0.1:1 .") == (
        "pulumi-analyzer-policy-python"
    )
    assert program_name("/x/.venv/bin/python -u -m pulumi.policy 127.0.0.1:1 .") == (
        "python -m pulumi.policy"
    )
    assert program_name(f"/x/.venv/bin/python {bin_dir}/pulumi-language-python-exec --monitor") == (
        "python pulumi-language-python-exec"
    )


def test_a_lock_held_by_a_running_pulumi_is_live(tmp_path: Path) -> None:
    pulumi = tmp_path / "bin" / "pulumi"  # a stand-in: a process whose program is named pulumi
    pulumi.parent.mkdir()
    pulumi.symlink_to("/bin/sleep")
    running = subprocess.Popen([str(pulumi), "30"])
    try:
        # Seen once in a full run on a loaded machine: the lock read as "gone" right after the
        # start. Wait until /proc shows the process under its name, so that only recover's own
        # reading is tested.
        cmdline = Path(f"/proc/{running.pid}/cmdline")
        deadline = time.monotonic() + 10
        while not cmdline.read_bytes().startswith(str(pulumi).encode()):
            assert time.monotonic() < deadline, cmdline.read_bytes()
            time.sleep(0.05)
        lock(tmp_path / "state", running.pid, socket.gethostname())
        [found] = file_locks((tmp_path / "state").as_uri(), "gpu-model-platform", "local")
        assert found.state() == "running"
    finally:
        running.kill()
        running.wait()
