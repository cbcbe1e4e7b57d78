"""Every rule's fixtures called directly: each gives its rule's exact verdict.

The same fixtures go through the engine in test_engine_parity.py; this file pins what the verdict
is, that one pins that the engine reaches the same one."""

from __future__ import annotations

import pytest

from policies.rules import ALL
from policies.rules.kubernetes.pod_security import CONTROLS
from policies.support import Rule
from tests.support.policy_fixtures import (
    FAMILIES,
    ROLLOUT_STALL,
    Family,
    Fixture,
    all_fixtures,
    direct_stack_verdict,
    direct_verdict,
)

RULES = {rule.name: rule for rule in ALL}
FIXTURES = list(all_fixtures())


@pytest.mark.parametrize(
    ("family", "fixture"), FIXTURES, ids=[f"{fa.name}/{fx.id}" for fa, fx in FIXTURES]
)
def test_each_fixture_gets_its_rules_exact_verdict(family: Family, fixture: Fixture) -> None:
    rule = RULES[fixture.rule]
    if rule.stack_level:
        # Alone: its verdict with its family is the engine parity's to compare.
        pairs = direct_stack_verdict(rule, [(fixture, "urn:fixture")], family.pack_config())
        verdict = [message for message, _ in pairs]
    else:
        verdict = direct_verdict(rule, fixture, family.pack_config())
    assert verdict == list(fixture.expected)


def test_fixture_names_are_unique_engine_resource_names() -> None:
    names = [fixture.id for _, fixture in FIXTURES]
    assert len(names) == len(set(names))
    for name in names:
        assert name == name.lower() and len(name) <= 63 and " " not in name, name


@pytest.mark.parametrize("rule", [r for r in ALL if not r.stack_level], ids=lambda r: r.name)
def test_every_resource_rule_has_passing_and_failing_fixtures(rule: Rule) -> None:
    mine = [fx for _, fx in FIXTURES if fx.rule == rule.name]
    assert any(fx.compliant for fx in mine), "no compliant fixture"
    assert any(not fx.compliant for fx in mine), "no violating fixture"


def test_every_pod_security_control_has_a_compliant_and_a_violating_fixture() -> None:
    for control in CONTROLS:
        mine = [fx for _, fx in FIXTURES if fx.control == control.id]
        assert any(fx.compliant for fx in mine), control.id
        assert any(not fx.compliant for fx in mine), control.id


def test_fixtures_carry_engine_shaped_values() -> None:
    # Floats for integers and unknowns must be among the fixtures, or parity proves little.
    text = repr([fx.props for _, fx in FIXTURES])
    assert "8501.0" in text and "0.0" in text
    assert "04da6b54-80e4-46f7-96ec-b56ff0331ba9" in text
    assert len(FAMILIES) >= 5


def test_the_stack_rules_verdicts_on_the_gpu_nodes_family() -> None:
    family = next(f for f in FAMILIES if f.name == "gpu-nodes")
    located = [(fixture, f"urn:{fixture.id}") for fixture in family.fixtures]
    config = family.pack_config()
    assert direct_stack_verdict(RULES["gpu-node-match"], located, config) == [
        ("gpus-on-h100: selects unknown GPU types tpu", "urn:gpus-on-h100"),
        (
            "gpus-on-h100: accepts GPU types h100, tpu but the node groups offer l4; its pods "
            "would stay pending",
            "urn:gpus-on-h100",
        ),
    ]
    assert direct_stack_verdict(RULES["gpu-quota"], located, config) == [
        (
            "namespace models: GPUs at peak replicas (2) exceed its requests.nvidia.com/gpu quota "
            "(1); the cluster would refuse pods past it",
            None,
        )
    ]


def test_the_rollout_rules_verdict_on_the_rollouts_family() -> None:
    family = next(f for f in FAMILIES if f.name == "rollouts")
    located = [(fixture, f"urn:{fixture.id}") for fixture in family.fixtures]
    holders = "rollout-replace-full 2x1 + rollout-surge-full 2x1 = 4"
    assert direct_stack_verdict(RULES["rollout-feasibility"], located, family.pack_config()) == [
        (ROLLOUT_STALL.format(name="rollout-surge-full", holders=holders), "urn:rollout-surge-full")
    ]
