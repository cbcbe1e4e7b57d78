"""pod-security, one test per Pod Security Standards control: its compliant and violating cases.

docs/policies.md lists each control with the test here that covers it (policies/docs.py)."""

from __future__ import annotations

import pytest

from policies.rules.kubernetes import pod_security
from policies.rules.kubernetes.pod_security import CONTROLS, Control
from tests.support.policy_fixtures import (
    FAMILIES,
    Fixture,
    as_kind,
    changed,
    context,
    direct_verdict,
)

FAMILY = next(family for family in FAMILIES if family.name == "pod-security")


def cases(control: Control) -> list[Fixture]:
    return [fixture for fixture in FAMILY.fixtures if fixture.control == control.id]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: c.id)
def test_control(control: Control) -> None:
    found = cases(control)
    assert [f for f in found if f.compliant] and [f for f in found if not f.compliant]
    for fixture in found:
        verdict = direct_verdict(pod_security.RULE, fixture, FAMILY.pack_config())
        assert verdict == list(fixture.expected), fixture.id


def test_baseline_profile_leaves_out_the_restricted_controls() -> None:
    fixture = next(f for f in FAMILY.fixtures if f.id == "pss-privilege-escalation-bad")
    assert (
        direct_verdict(pod_security.RULE, fixture, {"pod-security": {"profile": "baseline"}}) == []
    )
    fixture = next(f for f in FAMILY.fixtures if f.id == "pss-privileged-bad-init")
    assert direct_verdict(pod_security.RULE, fixture, {"pod-security": {"profile": "baseline"}})


def test_windows_pods_are_exempt_from_the_linux_only_controls() -> None:
    def windows(props: dict) -> None:  # type: ignore[type-arg]
        props["spec"]["template"]["spec"]["os"] = {"name": "windows"}
        context(props).pop("allowPrivilegeEscalation")
        context(props).pop("capabilities")

    fixture = Fixture(
        "pod-security", "win", "kubernetes:apps/v1:Deployment", changed("win", windows), ()
    )
    assert direct_verdict(pod_security.RULE, fixture, {}) == []


def test_a_bare_pods_own_annotations_are_read_for_apparmor() -> None:
    props = as_kind("kubernetes:core/v1:Pod", changed("bare", lambda d: None))
    props["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/tfserving": "unconfined"
    }
    fixture = Fixture("pod-security", "bare", "kubernetes:core/v1:Pod", props, ())
    assert direct_verdict(pod_security.RULE, fixture, {}) == [
        "bare/tfserving: AppArmor annotation unconfined"
    ]
