"""What the settings modules share: the base of nested models, and where a problem is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

Location = tuple[int | str, ...]
"""Where a problem is: a key of Pulumi.yaml, then indexes and nested keys within its value."""

Problem = tuple[Location, str]
"""A problem's location and what is wrong there."""


class NestedModel(BaseModel):
    """A model inside a key's value. Nested keys are camelCase, like the stack files."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )
