"""Monitoring settings: Prometheus retention and resources, and the routes Alertmanager sends to."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from components.facts.types import CpuQuantity, DnsLabel, MemoryQuantity
from components.settings.base import NestedModel

# Prometheus durations as retention takes them: one or more <number><unit>, e.g. 15d or 1w3d.
_PROMETHEUS_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# An Alertmanager matcher: label, operator, quoted value.
_MATCHER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"]*"$')


def _prometheus_duration(value: str) -> str:
    if not _PROMETHEUS_DURATION.match(value):
        raise ValueError(f"{value!r} is not a Prometheus duration such as '15d' or '12h'")
    return value


def _matcher(value: str) -> str:
    if not _MATCHER.match(value):
        raise ValueError(f"{value!r} is not an Alertmanager matcher such as 'team=\"ml\"'")
    return value


PrometheusDuration = Annotated[str, AfterValidator(_prometheus_duration)]
AlertMatcher = Annotated[str, AfterValidator(_matcher)]


class PrometheusResources(NestedModel):
    """Requests of the Prometheus server; memory is its limit too (it is killed, not throttled)."""

    cpu: CpuQuantity
    memory: MemoryQuantity


class AlertRoute(NestedModel):
    """Alerts matching every matcher go to a webhook (Slack, PagerDuty, an on-call bridge)."""

    name: DnsLabel
    matchers: list[AlertMatcher] = Field(min_length=1)
    webhook_url: str = Field(pattern=r"^https?://[^\s]+$")
