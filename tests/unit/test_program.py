"""The whole program under mocks: what the local stack registers, and what it must not import."""

from __future__ import annotations

import subprocess
import sys

from tests.support.mocks import ROOT, run_program, stack_config


def test_local_stack_registers_a_serving_stack_per_shipped_model() -> None:
    mocks = run_program(stack_config("local"))
    services = {r.name for r in mocks.of_type("gpu-model-platform:serving:ModelService")}
    assert services == {"iris", "digits"}
    deployments = {r.name for r in mocks.of_type("kubernetes:apps/v1:Deployment")}
    assert deployments == {"iris-stable", "digits-stable"}


def test_the_program_never_imports_tensorflow() -> None:
    # Previews stay fast only if the program reads gate records instead of loading models.
    probe = (
        "import sys\n"
        "from tests.support.mocks import run_program, stack_config\n"
        "run_program(stack_config('local'))\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
