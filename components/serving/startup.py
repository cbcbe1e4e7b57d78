"""Startup probe budgets derived from what the gate measured, instead of fixed numbers.

The gate (commands/gate.py) times each version's load and warmup replay in a fresh interpreter on
its own CPU and records them (components.catalog.gate_record.StartupMeasurement). A TF Serving pod
reports ready once the same two steps are done, so those figures are the basis of how long the
startup probe waits before the kubelet restarts a pod, and of the time to a first ready replica
the PR summary shows. Pure: plain data in and out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.catalog.gate_record import StartupMeasurement

# The startup probe asks every this many seconds; a budget is a whole number of periods.
STARTUP_PROBE_PERIOD_SECONDS = 5
# The measurement runs on the gate's CPU, with TensorFlow's Python loader and a warm page cache; a
# node can be slower on each count, and a pod that is killed while still loading restarts the
# whole load. Ten times the measured time leaves room for all three.
SAFETY_FACTOR = 10
# What the measurement cannot see at all: the TF Serving process starting, reading its config and
# opening its ports, before it begins loading. Also keeps a tiny model's budget above noise.
FLOOR_SECONDS = 30
# GPU models: creating the CUDA context and loading cuDNN kernels happens before the first load,
# and the gate's CPU measurement has no GPU. An allowance, not a measurement: it is added to the
# budget and shown in the expected time, labelled as such.
GPU_INIT_ALLOWANCE_SECONDS = 60


@dataclass(frozen=True)
class StartupBudget:
    measured_seconds: float
    """Load plus warmup, as the gate measured them."""
    expected_ready_seconds: int
    """When the startup probe should first see the version loaded, counted from container start:
    the measured time plus any GPU allowance, rounded up to whole probe periods."""
    budget_seconds: int
    """How long the startup probe waits before the pod is restarted."""
    failure_threshold: int
    period_seconds: int = STARTUP_PROBE_PERIOD_SECONDS


def _whole_periods(seconds: float) -> int:
    return max(1, math.ceil(seconds / STARTUP_PROBE_PERIOD_SECONDS))


def startup_budget(measurement: StartupMeasurement, uses_gpus: bool) -> StartupBudget:
    """max(FLOOR_SECONDS, SAFETY_FACTOR * measured), plus the GPU allowance for GPU models, in
    whole probe periods."""
    measured = measurement.ready_seconds
    allowance = GPU_INIT_ALLOWANCE_SECONDS if uses_gpus else 0
    failures = _whole_periods(max(FLOOR_SECONDS, SAFETY_FACTOR * measured) + allowance)
    return StartupBudget(
        measured_seconds=measured,
        expected_ready_seconds=_whole_periods(measured + allowance) * STARTUP_PROBE_PERIOD_SECONDS,
        budget_seconds=failures * STARTUP_PROBE_PERIOD_SECONDS,
        failure_threshold=failures,
    )
