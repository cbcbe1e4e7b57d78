"""The bench's references under mocks: the replay must register exactly the Kubernetes objects the
program does, or its split of the program's time into ours and the SDK's means nothing."""

from __future__ import annotations

from collections import Counter

import pulumi

from bench.program import _timed, composition_of, replay_program, time_program
from tests.support.engine import ROOT
from tests.support.mocks import stack_config


def test_the_replay_registers_the_same_objects_as_the_program() -> None:
    _, mocks = time_program(ROOT / "__main__.py", 1)
    replayed = _timed(replay_program(mocks), stack_config("local"), "local")

    def objects(recorded: list[pulumi.runtime.MockResourceArgs]) -> Counter[tuple[str, str]]:
        return Counter(
            (r.typ, r.name) for r in recorded if r.typ.startswith("kubernetes:") and r.custom
        )

    ours = objects(mocks.resources)
    assert ours and "kubernetes:monitoring.coreos.com/v1:ServiceMonitor" in {t for t, _ in ours}
    assert objects(replayed.resources) == ours
    assert composition_of(replayed).components == composition_of(mocks).components
