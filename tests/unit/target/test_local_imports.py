"""A local stack's program does not import the AWS and Docker providers' SDKs: every engine run of
every local stack (the platform and each models stack of a fleet) paid about 0.13 s to import them
(docs/fleet-scale.md, section 8). components.aws is imported where the program builds on AWS, and
pulumi-docker where it builds images."""

from __future__ import annotations

import subprocess
import sys

from tests.support.mocks import ROOT

CLOUD_ONLY = ("pulumi_aws", "pulumi_docker", "components.aws")


def test_the_programs_import_no_cloud_sdk() -> None:
    probe = (
        "import sys, programs.models, programs.platform; "
        f"print(sorted(m for m in sys.modules if m.startswith({CLOUD_ONLY!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]", (loaded.stdout, loaded.stderr)
