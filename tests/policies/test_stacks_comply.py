"""Every stack the program builds complies with every rule at that environment's settings.

The AWS provider cannot run here, so the pack cannot run on a dev or prod preview; instead each
rule's check runs on what the program registers for dev and prod under Pulumi mocks (the same
properties the engine would hand the pack), with the settings and exemptions of
policies/config/<stack>.json."""

from __future__ import annotations

import pytest

from policies.rules import ALL
from tests.support.mocks import run_program, stack_config
from tests.support.policy_config import findings, rule_settings


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_every_rule_passes_on_what_the_stack_registers(environment: str) -> None:
    mocks = run_program(stack_config(environment), stack=environment)
    resources = [(r.typ, r.inputs, mocks.registration(r)) for r in mocks.resources]
    assert any(typ == "kubernetes:apps/v1:Deployment" for typ, _, _ in resources)
    for rule in ALL:
        config = rule_settings(rule, environment)
        if rule.stack_level:
            stack = [(typ, props, reg.urn) for typ, props, reg in resources]
            assert rule.check(stack, config) == [], rule.name
            continue
        for typ, props, registration in resources:
            # As the pack does: the config's exemptions, each reported once its finding is gone.
            found = findings(rule, typ, props, config, registration.protect)
            assert found == [], (rule.name, typ)


def test_the_aws_stacks_are_seen_by_the_aws_rules() -> None:
    # The compliance above must not pass by the rules never meeting the resources they check.
    mocks = run_program(stack_config("prod"), stack="prod")
    types = {r.typ for r in mocks.resources}
    assert {"aws:eks/cluster:Cluster", "aws:ecr/repository:Repository", "aws:kms/key:Key"} <= types
    assert "aws:eks/nodeGroup:NodeGroup" in types
