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

from policies.kube import resource_id

PACK_NAME = "gpu-model-platform"

# Every resource rule takes `exemptions` in its config: findings a named object may have, each
# with its reason. A finding is exempt only as written (its exact message), so a new finding on
# the same object still fails; an exemption whose finding no longer occurs is itself reported,
# so none outlives its cause. The policy report lists every one (commands/policy_report.py).
EXEMPTIONS_KEY = "exemptions"
EXEMPTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "default": [],
    "description": (
        "Findings a named object may have, each with why: "
        '[{"resource": "Kind namespace/name", "findings": [exact messages], "reason": "..."}]'
    ),
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resource", "findings", "reason"],
        "properties": {
            "resource": {"type": "string", "pattern": "^[A-Za-z]+ ([a-z0-9-]+/)?[a-z0-9.-]+$"},
            "findings": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "reason": {"type": "string", "minLength": 10},
        },
    },
}


def apply_exemptions(
    rule: str, resource: str, findings: list[str], exemptions: list[Mapping[str, Any]]
) -> list[str]:
    """`findings` without those exempt for `resource`, plus one per exempt finding that no longer
    occurs (a stale exemption must go, or it would silently cover a later regression)."""
    exempt = {
        finding
        for exemption in exemptions
        if exemption.get("resource") == resource
        for finding in exemption.get("findings") or []
    }
    kept = [finding for finding in findings if finding not in exempt]
    stale = sorted(exempt - set(findings))
    return kept + [
        f"the exemption of {resource} from {rule} for {finding!r} matches no finding any more; "
        "remove it from the pack's config"
        for finding in stale
    ]


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

    def schema(self) -> dict[str, Mapping[str, Any]]:
        """The config schema: the rule's settings, and exemptions for a resource rule."""
        return {**self.config, **({} if self.stack_level else {EXEMPTIONS_KEY: EXEMPTIONS_SCHEMA})}

    def defaults(self) -> dict[str, Any]:
        return {key: spec["default"] for key, spec in self.schema().items() if "default" in spec}

    def policy(self) -> ResourceValidationPolicy | StackValidationPolicy:
        schema = PolicyConfigSchema(properties={k: dict(v) for k, v in self.schema().items()})
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
        resource = resource_id(args.resource_type, args.props)

        def run() -> list[tuple[str, str | None]]:
            findings = self.check(args.resource_type, args.props, config, *extra)
            kept = apply_exemptions(self.name, resource, findings, config[EXEMPTIONS_KEY])
            return [(finding, None) for finding in kept]

        self._report(report, run)

    def _validate_stack(self, args: StackValidationArgs, report: ReportViolation) -> None:
        config = self._config(args.get_config())
        resources = [(r.resource_type, r.props, r.urn) for r in args.resources]
        self._report(report, lambda: self.check(resources, config))
