"""Startup probe budgets derived from the gate's measurements: factor, floor, GPU allowance."""

from __future__ import annotations

import pytest

from components.catalog.gate_record import StartupMeasurement
from components.catalog.load import load_catalog
from components.facts import labels
from components.serving import builders as serving
from components.serving.startup import (
    FLOOR_SECONDS,
    GPU_INIT_ALLOWANCE_SECONDS,
    SAFETY_FACTOR,
    STARTUP_PROBE_PERIOD_SECONDS,
    startup_budget,
)
from tests.support.mocks import ROOT, STARTUP
from tests.support.specs import spec_of


def measured(load: float, warmup: float) -> StartupMeasurement:
    return STARTUP.model_copy(update={"load_seconds": load, "warmup_seconds": warmup})


def test_a_fast_cpu_model_gets_the_floor() -> None:
    budget = startup_budget(measured(0.4, 0.3), uses_gpus=False)
    assert SAFETY_FACTOR * 0.7 < FLOOR_SECONDS
    assert (budget.budget_seconds, budget.failure_threshold) == (30, 6)
    assert budget.period_seconds == STARTUP_PROBE_PERIOD_SECONDS
    # Loaded within the first period: the probe sees it ready at 5 s.
    assert budget.expected_ready_seconds == 5


def test_a_slow_model_gets_the_safety_factor_rounded_up_to_whole_periods() -> None:
    budget = startup_budget(measured(40.0, 2.3), uses_gpus=False)
    # 10 x 42.3 s = 423 s, rounded up to 425 s: 85 periods of 5 s.
    assert (budget.budget_seconds, budget.failure_threshold) == (425, 85)
    assert budget.expected_ready_seconds == 45


def test_a_gpu_model_adds_the_cuda_allowance_to_budget_and_expected_time() -> None:
    cpu = startup_budget(measured(0.4, 0.3), uses_gpus=False)
    gpu = startup_budget(measured(0.4, 0.3), uses_gpus=True)
    assert gpu.budget_seconds == cpu.budget_seconds + GPU_INIT_ALLOWANCE_SECONDS == 90
    assert gpu.expected_ready_seconds == 65


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_the_shipped_models_probes_come_from_their_gate_records(name: str) -> None:
    [entry] = [e for e in load_catalog(ROOT / "models", 1) if e.spec.name == name]
    spec = entry.spec
    images = {v: f"img:{v}" for v in spec.served_versions}
    (track,) = serving.tracks(spec, images, entry.startup)
    expected = startup_budget(entry.startup[spec.serving.active], spec.uses_gpus)

    deployment = serving.deployment(spec, track, "models", "cfg")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]

    assert probe["periodSeconds"] * probe["failureThreshold"] == expected.budget_seconds
    annotations = deployment["metadata"]["annotations"]
    assert annotations[labels.EXPECTED_READY_ANNOTATION] == str(expected.expected_ready_seconds)
    assert annotations[labels.STARTUP_BUDGET_ANNOTATION] == str(expected.budget_seconds)
    # Not on the pod template: a new measurement of the same files restarts no pod.
    assert "annotations" not in deployment["spec"]["template"]["metadata"]


def test_the_canary_gets_the_budget_of_its_own_version() -> None:
    spec = spec_of("iris", serving={"active": 2, "canary": {"version": 1, "percent": 50}})
    slow = measured(20.0, 1.0)
    stable, canary = serving.tracks(spec, {1: "a", 2: "b"}, {1: slow, 2: STARTUP})
    assert stable.startup is not None and stable.startup.budget_seconds == 30
    assert canary.startup is not None and canary.startup.budget_seconds == 210
