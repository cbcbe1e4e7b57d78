"""An interrupted `make up` in render mode (issue #14, "Interruptions"), through the commands a user
runs on a copy of the repository: `kill -9` of `pulumi up` while it has objects of a model under
way, so the stack keeps its lock and pending creates whose manifests were written but never
recorded. The user then gives that model up (its folder removed). No plugin process outlives the
killed run; `make preview` says what was left and what `make up` will do; `make up` does it and
deploys, with no pending operation, lock or orphan manifest left behind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.engine_processes import marked_processes
from tests.support.engine import LocalStack, copy_repository, engine_env, run_make
from tests.support.interrupt import (
    alive,
    checkpoint,
    kill_up_after_rendering,
    kill_up_and_its_runner,
    object_name,
    stop_processes_in,
)

pytestmark = pytest.mark.engine

MODEL = "digits"
"""The model whose objects are under way when `pulumi up` is killed, then removed."""


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    clone = copy_repository(tmp_path / "clone")
    yield clone
    stop_processes_in(clone)


def test_a_killed_up_leaves_no_process_and_the_next_up_says_and_clears_what_it_left(
    clone: Path,
) -> None:
    killed = kill_up_after_rendering(clone, MODEL)
    assert killed.status != 0, killed.output
    survivors = [p for p in killed.plugins if alive(p)]
    assert not survivors, f"outlived the killed `pulumi up`: {survivors}\n{killed.output}"
    assert "[engine] `pulumi up` was killed by signal 9 (SIGKILL) before it finished" in (
        killed.output
    ), killed.output

    manifests = clone / "build" / "manifests" / "local"
    written = sorted(
        path
        for op in killed.pending
        if object_name(op).startswith(MODEL)
        for path in manifests.rglob(f"*-{object_name(op)}.yaml")
    )
    assert written, f"no manifest of a pending {MODEL} object was written: {killed.pending}"
    shutil.rmtree(clone / "models" / MODEL)

    preview = run_make(clone, "preview")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert (
        "[recover]   `make up` will run: pulumi --non-interactive cancel --yes --stack local"
        in preview.stdout
    ), preview.stdout
    for op in killed.pending:
        resource = op["resource"]
        line = f"[recover]     creating {resource['type']} {resource['urn'].rsplit('::', 1)[-1]}"
        assert line in preview.stdout, preview.stdout
    assert all(path.exists() for path in written), "a preview changes nothing"

    up = run_make(clone, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "[recover]   done: pulumi --non-interactive cancel --yes --stack local" in up.stdout
    assert (
        "[recover]   done: pulumi --non-interactive refresh --yes --skip-preview "
        "--clear-pending-creates --target urn:pulumi:local::gpu-model-platform::"
        "pulumi:pulumi:Stack::gpu-model-platform-local --stack local"
    ) in up.stdout, up.stdout
    for path in written:
        assert f"[recover]     {path.relative_to(clone)}" in up.stdout, up.stdout
        assert not path.exists()
    assert "pending operations from previous deployment" not in up.stdout, up.stdout
    assert not checkpoint(clone).get("pending_operations")
    assert not list((clone / ".pulumi-state" / ".pulumi" / "locks").rglob("*.json"))
    assert not [p for p in manifests.rglob("*.yaml") if f"-{MODEL}" in p.name]
    assert not [p for p in marked_processes() if str(clone.resolve()) in p.run]


def test_plugins_of_a_run_killed_with_its_runner_are_stopped_by_the_next_engine_command(
    clone: Path,
) -> None:
    killed = kill_up_and_its_runner(clone)
    assert killed.status != 0, killed.output
    left = [p for p in killed.plugins if alive(p)]

    preview = run_make(clone, "preview")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    # How many are still running when the next command looks depends on timing: the program's own
    # process ends by itself once its engine is gone. In a full run on a loaded machine (this
    # session, twice) none was left by then, so the report is checked only when some were; what
    # always holds is that none is left after the next command.
    if left:
        assert " plugin processes still running: " in preview.stdout, preview.stdout
    survivors = [p for p in left if alive(p)]
    assert not survivors, f"outlived the next engine command: {survivors}\n{preview.stdout}"


def test_an_empty_state_attributes_file_a_killed_run_left_is_removed_and_said(
    clone: Path,
) -> None:
    """A kill while the file backend saved the state could leave the state file's attributes
    sidecar empty (seen in a full run of the suite, after kill_up_and_its_runner): every CLI
    command then failed with "failed to load checkpoint: EOF". The backend no longer writes
    sidecars (Makefile: `metadata=skip`), but one an earlier run left is still read: `make`
    removes an empty one before the CLI reads the state."""
    first = run_make(clone, "preview")
    assert first.returncode == 0, first.stdout + first.stderr
    (state_file,) = (clone / ".pulumi-state" / ".pulumi" / "stacks").rglob("local.json")
    assert not list(state_file.parent.glob("*.attrs")), "metadata=skip writes no sidecar"
    attributes = state_file.with_name("local.json.attrs")
    state = state_file.read_bytes()
    attributes.write_bytes(b"")
    stack = LocalStack(clone, engine_env(clone / ".pulumi-state"))
    broken = stack.pulumi("stack", "export", "--stack", "local", check=False)
    assert "failed to load checkpoint: EOF" in broken.stderr, broken.stderr
    again = run_make(clone, "preview")
    output = again.stdout + again.stderr
    assert again.returncode == 0, output
    said = "[recover] removed an empty attributes file a killed run left (state kept): "
    assert said + str(attributes) in again.stderr, output
    assert attributes.with_suffix("").read_bytes() == state
