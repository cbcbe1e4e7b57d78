"""The policy pack. Enforcement and thresholds per environment: policies/config/<stack>.json."""

import sys
from pathlib import Path

# The pack runs from this folder; the rules share the project's GPU facts and labels.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.rules import ALL
from policies.support import PACK_NAME

PolicyPack(
    name=PACK_NAME,
    description="Resource limits, GPU placement and budget, image provenance, pod security.",
    # Mandatory unless an environment's config says otherwise: a pack run without config fails
    # closed rather than letting everything through.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[rule.policy() for rule in ALL],
)
