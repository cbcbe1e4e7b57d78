"""The commands a one-model `make preview` waits for around its engine run start without the
Pulumi SDK or pulumi_policy: each import of them costs a process 0.2-0.7 s (the policy report
took 0.55 s to start with pulumi_policy, 0.06 s without), on the path a reviewer waits for
(docs/fleet-scale.md, section 8)."""

from __future__ import annotations

import pytest

from tests.support.imports import loaded_by

# Run on every `make preview` of a fleet (Makefile: preview, preview-stack). fleet_ledger is not
# among them: its policy-config check reads the pack's rules, which are pulumi_policy's.
PREVIEW_PATH = (
    "commands.fleet",
    "commands.recover",
    "commands.engine_run",
    "commands.policy_report",
    "commands.preview_summary",
    "commands.plan_binding",
)
HEAVY = ("pulumi", "pulumi_policy", "pulumi_kubernetes", "pulumi_aws", "grpc")


@pytest.mark.parametrize("module", PREVIEW_PATH)
def test_a_preview_path_command_imports_no_pulumi_sdk(module: str) -> None:
    heavy = {name.split(".")[0] for name in loaded_by(module, HEAVY)} & set(HEAVY)
    assert not heavy, (module, sorted(heavy))
