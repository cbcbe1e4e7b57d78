"""Rollout feasibility on the simulated cluster (issue #17): 2 GPU nodes of 1 GPU each, digits
holding both at its minimum of 2 replicas. A change of its pod template is predicted to stall by
the preview (the Rollouts section and the `rollout-feasibility` policy, told the cluster's 2 GPUs),
and it does: `up` fails after rolloutTimeoutSeconds with the surge pod Pending on `Insufficient
nvidia.com/gpu` while both old pods keep serving. With the remedy the preview names,
`rollout.strategy: replace`, the preview says it fits, the policy passes, and the rollout
completes without ready replicas ever falling below the PodDisruptionBudget.

digits scales on CPU here (an HPA, which the plane's controller manager runs) rather than on
requests through KEDA, which no operator serves on this plane: the HPA holds replicas.min."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from commands.preview_summary import render
from components.facts.labels import MODEL_LABEL, VERSION_LABEL
from tests.support.engine import ROOT, LocalStack
from toolchain.plane.api import Api
from toolchain.plane.layout import Layout
from toolchain.plane.lifecycle import up
from toolchain.plane.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

NAMESPACE = "models"
GPU_NODES = 2  # of one GPU each
ROLLOUT_TIMEOUT = 30  # the least rolloutTimeoutSeconds allows: the stalled `up` gives up after it
STALL = (
    "digits-stable: its rollout will stall: it needs 1 surge pod x 1 GPU = 1 GPU beyond what the "
    "GPU workloads hold at min replicas (digits-stable 2x1 = 2), and 0 of the 2 GPUs are free; "
    "the new pods would stay Pending"
)


@pytest.fixture(scope="module")
def api_and_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, LocalStack]]:
    layout = Layout(tmp_path_factory.mktemp("rollout-plane"))
    try:
        up(layout, 2, GPU_NODES)
        api = Api(layout)
        stack = LocalStack.create(tmp_path_factory.mktemp("rollout-stack"))
        stack.pulumi("config", "set", "kubeconfig", str(layout.kubeconfig))
        stack.pulumi("config", "set", "rolloutTimeoutSeconds", str(ROLLOUT_TIMEOUT))
        edit_digits(stack, autoscaling={"metric": "cpu", "target": 70})
        stack.up()
        yield api, stack
    finally:
        stop(layout)


def edit_digits(stack: LocalStack, **changes: Any) -> None:
    path = stack.project / "models" / "digits" / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def pack(stack: LocalStack) -> tuple[str, ...]:
    """The pack as `make preview` runs it on local, told the plane's GPUs."""
    config = json.loads((ROOT / "policies" / "config" / "local.json").read_text())
    config["rollout-feasibility"] = {"gpuCapacity": GPU_NODES}
    path = stack.project.parent / "policy-config.json"
    path.write_text(json.dumps(config))
    return ("--policy-pack", str(ROOT / "policies"), "--policy-pack-config", str(path))


def digits_pods(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get(
        f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={MODEL_LABEL}%3Ddigits"
    )["items"]
    return found


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return "deletionTimestamp" not in pod["metadata"] and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def unschedulable(pod: dict[str, Any]) -> str | None:
    for condition in pod.get("status", {}).get("conditions", []):
        if condition["type"] == "PodScheduled" and condition["status"] == "False":
            return str(condition.get("message", ""))
    return None


def wait_for(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not so after {timeout}s"
        time.sleep(0.5)


def preview(stack: LocalStack) -> tuple[str, str, int]:
    """The summary (told the plane's GPUs, as `--policy-config` tells `make preview`'s), the
    engine's output and the preview's exit status."""
    events, output, status = stack.preview_events(*pack(stack))
    assert events, output
    return render(events, "local", output, gpu_capacity=GPU_NODES), output, status


def rollout_row(markdown: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith("| **digits** | ")]
    section = markdown.split("### Rollouts", 1)
    assert len(section) == 2, markdown
    mine = [row for row in rows if row in section[1]]
    assert len(mine) == 1, markdown
    return mine[0]


def test_digits_holds_both_gpus(api_and_stack: tuple[Api, LocalStack]) -> None:
    api, _ = api_and_stack
    wait_for("2 ready digits pods", lambda: sum(ready(p) for p in digits_pods(api)) == 2)
    nodes = {p["spec"]["nodeName"] for p in digits_pods(api)}
    assert len(nodes) == GPU_NODES, nodes


def test_the_preview_predicts_the_stall_and_up_really_stalls(
    api_and_stack: tuple[Api, LocalStack],
) -> None:
    api, stack = api_and_stack
    # A new batching config: a new ConfigMap name in the pod template, so every pod is replaced.
    edit_digits(stack, batching={"max_batch_size": 16, "batch_timeout_micros": 2000})
    markdown, output, status = preview(stack)
    assert status != 0 and STALL in output, output
    assert rollout_row(markdown).startswith(
        "| **digits** | will stall: needs 1 surge pod x 1 GPU = 1 GPU, 0 of 2 free (new pods "
        "stay Pending); remedy: set `rollout.strategy: replace`"
    ), markdown

    started = time.monotonic()
    result = stack.up(check=False)
    waited = time.monotonic() - started
    assert result.returncode != 0, result.stdout
    print(f"[rollout figures] stalled up failed after {waited:.1f}s (timeout {ROLLOUT_TIMEOUT}s)")
    pods = digits_pods(api)
    pending = [p for p in pods if p["status"].get("phase") == "Pending"]
    assert len(pending) == 1, [(p["metadata"]["name"], p["status"].get("phase")) for p in pods]
    message = unschedulable(pending[0]) or ""
    assert "Insufficient nvidia.com/gpu" in message, message
    # The old pods keep serving: nothing was taken down for the pod that cannot start.
    assert sum(ready(p) for p in pods) == 2


def test_with_the_remedy_the_preview_says_it_fits_and_the_rollout_completes(
    api_and_stack: tuple[Api, LocalStack],
) -> None:
    api, stack = api_and_stack
    # The remedy, with the next change of the pod template in the same preview (the strategy alone
    # changes no template: it rolls nothing the preview could judge).
    edit_digits(
        stack,
        rollout={"strategy": "replace"},
        batching={"max_batch_size": 8, "batch_timeout_micros": 2000},
    )
    markdown, output, status = preview(stack)
    assert status == 0 and "rollout-feasibility" not in output, output
    assert rollout_row(markdown) == (
        "| **digits** | fits: the rollout needs no GPU beyond what the model holds |"
    ), markdown
    floor = int(
        api.get(f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/digits-serving")[
            "spec"
        ]["minAvailable"]
    )
    lowest = 2
    samples = 0
    result: Any = None

    done = threading.Event()

    def sample() -> None:
        nonlocal lowest, samples
        while not done.is_set():
            lowest = min(lowest, sum(ready(p) for p in digits_pods(api)))
            samples += 1
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        started = time.monotonic()
        result = stack.up(check=False)
        seconds = time.monotonic() - started
        wait_for(
            "every digits pod on the new template and ready",
            lambda: (
                len(pods := digits_pods(api)) == 2
                and all(ready(p) for p in pods)
                and len({p["metadata"]["labels"].get("pod-template-hash") for p in pods}) == 1
            ),
        )
    finally:
        done.set()
        sampler.join()
    assert result.returncode == 0, result.stdout + result.stderr
    print(
        f"[rollout figures] remedy up {seconds:.1f}s; lowest ready {lowest} (PDB minAvailable "
        f"{floor}); {samples} readings"
    )
    assert samples > 10 and lowest >= floor, (lowest, floor)
    assert {p["metadata"]["labels"][VERSION_LABEL] for p in digits_pods(api)} == {"1"}
    assert not [p for p in digits_pods(api) if unschedulable(p)]
