"""gpu-model-platform: validated settings in, one platform out. Each piece lives in components/;
what a stack registers, in programs/: the platform stack of an environment, or one of its models
stacks (stacks/<platform stack>.yaml, docs/fleet-scale.md)."""

from pathlib import Path

import pulumi

from components.fleet.stacks import FleetStacksError, stack_role
from programs import models, platform

PROJECT = Path(__file__).resolve().parent

try:
    role = stack_role(pulumi.get_stack())
    if role.models_stack is None:
        platform.run(PROJECT, role)
    else:
        models.run(PROJECT, role)
except FleetStacksError as error:  # the message alone, as for every other input error
    raise pulumi.RunError(str(error)) from None
