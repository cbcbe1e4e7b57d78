"""What every policy shares: a pure check turned into a validator, defaults from its schema, and
failing closed on values unknown at preview."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "gpu-model-platform"


@dataclass(frozen=True)
class Rule:
    """One policy: its metadata, its thresholds with defaults, and its pure check."""

    name: str
    description: str
    why: str
    severity: Severity
    remediation: str
    config: Mapping[str, Mapping[str, Any]]
    check: Callable[..., list[Any]]
    """Resource rules: (type, props, config) -> messages; stack rules: (resources, config) ->
    (message, urn) pairs."""
    stack_level: bool = False
    reads_protect: bool = False
    """The check takes a fourth argument: whether the resource has Pulumi's `protect` option."""

    @property
    def critical(self) -> bool:
        return self.severity in (Severity.CRITICAL, Severity.HIGH)

    def defaults(self) -> dict[str, Any]:
        return {key: spec["default"] for key, spec in self.config.items() if "default" in spec}

    def policy(self) -> ResourceValidationPolicy | StackValidationPolicy:
        schema = PolicyConfigSchema(properties={k: dict(v) for k, v in self.config.items()})
        common: dict[str, Any] = {
            "name": self.name,
            "description": f"{self.description} {self.why}",
            "severity": self.severity,
            "remediation_steps": self.remediation,
            "config_schema": schema,
        }
        if self.stack_level:
            return StackValidationPolicy(validate=self._validate_stack, **common)
        return ResourceValidationPolicy(validate=self._validate_resource, **common)

    def _config(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        config = {**self.defaults(), **(given or {})}
        # Every number crosses the engine as a float: an integer setting of 8 arrives as 8.0, and
        # would read so in messages. Integers are integers again before any check sees them.
        for key, spec in self.config.items():
            value = config.get(key)
            if spec.get("type") == "integer" and isinstance(value, float) and value.is_integer():
                config[key] = int(value)
        return config

    def _report(
        self, report: ReportViolation, run: Callable[[], list[tuple[str, str | None]]]
    ) -> None:
        try:
            problems = run()
        except UnknownValueError as unknown:
            if not self.critical:
                raise  # the SDK reports the rule as not run during preview
            # A critical rule must not pass by not looking: an unknown value is a violation.
            problems = [
                (f"cannot be verified at preview ({unknown.message}); failing closed", None)
            ]
        for message, urn in problems:
            report(message, urn)

    def _validate_resource(self, args: ResourceValidationArgs, report: ReportViolation) -> None:
        config = self._config(args.get_config())
        extra = (bool(args.opts.protect),) if self.reads_protect else ()
        self._report(
            report,
            lambda: [(m, None) for m in self.check(args.resource_type, args.props, config, *extra)],
        )

    def _validate_stack(self, args: StackValidationArgs, report: ReportViolation) -> None:
        config = self._config(args.get_config())
        resources = [(r.resource_type, r.props, r.urn) for r in args.resources]
        self._report(report, lambda: self.check(resources, config))
