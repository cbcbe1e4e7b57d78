"""A local stack's program, and the fleet ledger run before each of its previews and ups, do not
import the AWS and Docker providers' SDKs: every engine run of every local stack (the platform
and each models stack of a fleet) paid about 0.13 s to import them (docs/fleet-scale.md, section
8). components.aws is imported where the code builds on AWS, and pulumi-docker where the program
builds images."""

from __future__ import annotations

import pytest

from tests.support.imports import loaded_by

CLOUD_ONLY = ("pulumi_aws", "pulumi_docker", "components.aws")


@pytest.mark.parametrize("modules", ["programs.models, programs.platform", "commands.fleet_ledger"])
def test_a_local_stack_imports_no_cloud_sdk(modules: str) -> None:
    assert loaded_by(modules, CLOUD_ONLY) == []
