"""Case 1: the Pulumi program alone, under the mocks the unit tests use (no engine, no provider).

What is timed is the whole of a program's `__main__.py` run by `pulumi.runtime.test`: settings,
catalog (YAML, pydantic, gate digests), components, and the Python SDK's own work per resource
(serialising inputs, resolving outputs), with the mocks answering at once. Imports are paid by a
warm-up run and are not in the figure: the engine's preview pays them once, whatever N is.

Two references split that time. The floor program (bench/floor.py) registers as many resources,
but tiny ones: what the SDK costs per resource. The replay registers exactly the Kubernetes
objects our program registered (same types, same bodies, through the same pulumi_kubernetes
classes) from a flat list, with no catalog, no components of ours and no outputs passed between
objects: what the SDK costs for *these* objects. Ours minus replay is our program's own work.
"""

from __future__ import annotations

import gc
import re
import runpy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tests.support.mocks import RecordingMocks, stack_config, use_mocks


@dataclass(frozen=True)
class Composition:
    """What a program registers, by the work each kind costs the engine."""

    components: int
    """Component resources (no provider calls)."""
    providers: int
    objects: int
    """Custom resources: here, Kubernetes objects sent to the provider."""
    references: int = 0
    """StackReferences (a models stack's read of its platform's outputs): the engine reads the
    referenced stack's state; a read, not a create, so not in a preview's summary."""

    @property
    def total(self) -> int:
        """Resources in a preview's summary: these, plus the stack itself."""
        return 1 + self.components + self.providers + self.objects


STACK_REFERENCE = "pulumi:pulumi:StackReference"


def composition_of(mocks: RecordingMocks) -> Composition:
    providers = sum(1 for r in mocks.resources if r.typ.startswith("pulumi:providers:"))
    references = sum(1 for r in mocks.resources if r.typ == STACK_REFERENCE)
    # The mocks record a StackReference (a read) as not custom: it is no component.
    components = sum(1 for r in mocks.resources if not r.custom and r.typ != STACK_REFERENCE)
    return Composition(
        components=components,
        providers=providers,
        objects=len(mocks.resources) - components - providers - references,
        references=references,
    )


def _timed(
    program: Callable[[], object],
    config: dict[str, Any],
    stack: str,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> RecordingMocks:
    mocks = RecordingMocks()
    # What a StackReference to each stack reads (a models stack reads its platform's).
    mocks.stack_outputs = stack_outputs or {}
    use_mocks(config, stack, mocks)
    run: Callable[[], object] = pulumi.runtime.test(program)
    run()
    return mocks


def time_program(
    main: Path,
    runs: int,
    config: dict[str, Any] | None = None,
    stack: str = "local",
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[float], RecordingMocks]:
    """Seconds of each of `runs` runs of the program at `main`, and what the last one registered
    (`stack_outputs`: what a StackReference to each stack, by its full name, reads)."""
    config = stack_config(stack) if config is None else config
    seconds: list[float] = []
    mocks = RecordingMocks()
    for _ in range(runs):
        gc.collect()  # so that no run pays for the garbage of the one before
        start = time.perf_counter()
        mocks = _timed(lambda: runpy.run_path(str(main)), config, stack, stack_outputs)
        seconds.append(time.perf_counter() - start)
    return seconds, mocks


def warm_up(main: Path, config: dict[str, Any] | None = None, stack: str = "local") -> None:
    """One untimed run: pays the imports (pulumi_kubernetes, pydantic models) once."""
    time_program(main, 1, config, stack)


# ---------------------------------------------------------------------------------------------
# The replay


def kubernetes_class(token: str) -> Any:
    """`kubernetes:apps/v1:Deployment` -> pulumi_kubernetes.apps.v1.Deployment; a kind the SDK
    has no class for (a CRD's, e.g. `monitoring.coreos.com/v1:ServiceMonitor`) -> CustomResource,
    which is how the program registers those."""
    _, group_version, kind = token.split(":")
    group, version = group_version.split("/")
    module = getattr(k8s, group.split(".")[0], None)
    return getattr(getattr(module, version, None), kind, None) or k8s.apiextensions.CustomResource


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def replay_program(mocks: RecordingMocks) -> Callable[[], None]:
    """A flat program registering the Kubernetes objects `mocks` recorded, as they were."""
    composition = composition_of(mocks)
    objects = [
        (kubernetes_class(r.typ), r.name, r.inputs)
        for r in mocks.resources
        # helm.v3.Chart is a component of the SDK's, counted with the components.
        if r.typ.startswith("kubernetes:") and r.custom
    ]

    def program() -> None:
        provider = k8s.Provider("replay-kubernetes", render_yaml_to_directory="build/replay")
        for index in range(composition.components):
            pulumi.ComponentResource("replay:index:Group", f"group-{index}").register_outputs({})
        child = pulumi.ResourceOptions(provider=provider)
        for cls, name, inputs in objects:
            if cls is k8s.apiextensions.CustomResource:
                cls(name, **{_snake(k): v for k, v in inputs.items()}, opts=child)
                continue
            arguments = {_snake(k): v for k, v in inputs.items() if k not in ("apiVersion", "kind")}
            cls(name, **arguments, opts=child)

    return program


def time_replay(mocks: RecordingMocks, runs: int, stack: str = "local") -> list[float]:
    program = replay_program(mocks)
    config = stack_config(stack)
    seconds: list[float] = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        _timed(program, config, stack)
        seconds.append(time.perf_counter() - start)
    return seconds
