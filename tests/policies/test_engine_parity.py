"""Engine parity: every fixture of every rule through a real preview with the pack, one preview per
family, each fixture its own resource. For every rule on every fixture, the engine's verdict must
be the direct call's (tests/policies/test_fixtures.py pins that verdict): a check written against
Python literals that never fires on the floats and unknowns of a real preview fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from policies.rules import ALL
from tests.support.parity import ParityProject, urn
from tests.support.policy_fixtures import (
    FAMILIES,
    Family,
    direct_stack_verdict,
    direct_verdict,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParityProject]:
    yield ParityProject(Path(tmp_path_factory.mktemp("parity")))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_engine_reaches_the_direct_verdict_of_every_rule_on_every_fixture(
    project: ParityProject, family: Family
) -> None:
    engine = project.preview(family)
    # The preview must have run the program and the pack, not failed before them.
    assert "Loading policy packs" in engine.output or engine.by_resource, engine.output
    config = family.pack_config()
    mismatches: list[tuple[str, str, object, object]] = []
    violations = 0
    for fixture in family.fixtures:
        resource = urn(fixture.resource_type, fixture.id)
        for rule in ALL:
            if rule.stack_level:
                continue
            direct = direct_verdict(rule, fixture, config)
            violations += len(direct)
            if sorted(engine.of(rule.name, resource)) != sorted(direct):
                mismatches.append((fixture.id, rule.name, direct, engine.of(rule.name, resource)))
    located = [(f, urn(f.resource_type, f.id)) for f in family.fixtures]
    for rule in ALL:
        if not rule.stack_level:
            continue
        direct_pairs = direct_stack_verdict(rule, located, config)
        violations += len(direct_pairs)
        engine_pairs = [
            # A stack policy's finding without a resource is shown on the stack.
            (message, None if ":pulumi:pulumi:Stack::" in resource else resource or None)
            for (policy, resource), messages in engine.by_resource.items()
            if policy == rule.name
            for message in messages
        ]
        if sorted(map(str, engine_pairs)) != sorted(map(str, direct_pairs)):
            mismatches.append(("(stack)", rule.name, direct_pairs, engine_pairs))
    assert not mismatches, "\n".join(map(str, mismatches)) + "\n" + engine.output[-3000:]
    # A family whose fixtures the engine never judged would pass vacuously.
    assert violations and engine.by_resource
    # Mandatory violations (local) must fail the preview; none must not.
    assert (engine.returncode != 0) == bool(violations), engine.output[-2000:]
    print(f"{family.name}: {len(family.fixtures)} fixtures, preview {engine.seconds:.1f}s")
