"""A local stack's program, and the fleet ledger run before each of its previews and ups, do not
import the AWS and Docker providers' SDKs: every engine run of every local stack (the platform
and each models stack of a fleet) paid about 0.13 s to import them (docs/fleet-scale.md, section
8). components.aws is imported where the code builds on AWS, and pulumi-docker where the program
builds images."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.mocks import ROOT

CLOUD_ONLY = ("pulumi_aws", "pulumi_docker", "components.aws")


@pytest.mark.parametrize("modules", ["programs.models, programs.platform", "commands.fleet_ledger"])
def test_a_local_stack_imports_no_cloud_sdk(modules: str) -> None:
    probe = (
        f"import sys, {modules}; "
        f"print(sorted(m for m in sys.modules if m.startswith({CLOUD_ONLY!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]", (loaded.stdout, loaded.stderr)
