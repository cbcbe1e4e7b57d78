"""A rule as the pack runs it at a stack's policy config (policies/config/<stack>.json): its
settings over its defaults, and the config's exemptions applied to what it finds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.docs import environment_config
from policies.kube import resource_id
from policies.support import EXEMPTIONS_KEY, Rule, apply_exemptions


def rule_settings(rule: Rule, environment: str) -> dict[str, Any]:
    own = environment_config(environment).get(rule.name)
    overrides = (
        {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, dict) else {}
    )
    return {**rule.defaults(), **overrides}


def findings(
    rule: Rule, typ: str, props: Mapping[str, Any], config: Mapping[str, Any], protect: bool
) -> list[str]:
    """A resource rule's findings on one object less its exemptions, plus one per exemption of
    that object whose finding no longer occurs (policies/support.py)."""
    extra = (protect,) if rule.reads_protect else ()
    return apply_exemptions(
        rule.name,
        resource_id(typ, props),
        rule.check(typ, props, config, *extra),
        config[EXEMPTIONS_KEY],
    )
