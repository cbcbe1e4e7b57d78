"""The gated-image admission policy as built and as the program registers it. What the API server
does with it (refusals, the stack's own rollouts) is tested on the simulated cluster
(tests/integration/test_cluster.py)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from components.catalog.load import load_catalog
from components.facts.versions import KUBERNETES_VERSION, TF_SERVING_VERSION
from components.serving import admission
from tests.support.mocks import ROOT, run_program, stack_config

ADMISSION = "admissionregistration.k8s.io/v1"
POLICY = f"kubernetes:{ADMISSION}:ValidatingAdmissionPolicy"
BINDING = f"kubernetes:{ADMISSION}:ValidatingAdmissionPolicyBinding"


def test_policy_and_binding_are_valid_kubernetes_objects() -> None:
    for kind, body in (
        ("ValidatingAdmissionPolicy", admission.policy(["reg/iris:v2-ab", "reg/iris:v1-cd"])),
        ("ValidatingAdmissionPolicyBinding", admission.binding("models")),
    ):
        kubernetes_validate.validate(
            {"apiVersion": ADMISSION, "kind": kind, **body}, KUBERNETES_VERSION, strict=True
        )


def test_the_allow_list_is_a_sorted_cel_list_of_exact_references() -> None:
    literal = admission.allowed_images_literal(["r/b:v2-x", "r/a:v1-y", "r/b:v2-x"])
    assert literal == '["r/a:v1-y", "r/b:v2-x"]'
    variables = {
        v["name"]: v["expression"] for v in admission.policy(["r/a:v1-y"])["spec"]["variables"]
    }
    assert variables["allowed"] == '["r/a:v1-y"]'


def test_the_binding_denies_in_the_models_namespace_only() -> None:
    spec = admission.binding("serving-ns")["spec"]
    assert spec["validationActions"] == ["Deny"]
    assert spec["matchResources"] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "serving-ns"}}
    }


def registered(mocks: Any, kind: str) -> dict[str, Any]:
    [resource] = mocks.of_type(kind)
    inputs: dict[str, Any] = resource.inputs
    return inputs


def test_the_program_admits_every_gated_version_and_what_its_deployments_run() -> None:
    mocks = run_program(stack_config("local"))
    policy = registered(mocks, POLICY)
    assert registered(mocks, BINDING)["spec"]["policyName"] == policy["metadata"]["name"]
    [allowed] = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == "allowed"]

    registry = stack_config("local")["imageRegistry"]
    expected = [
        f"{registry}/{entry.spec.name}:v{version}-{digest.removeprefix('sha256:')[:16]}"
        f"-tfs{TF_SERVING_VERSION}{'-gpu' if entry.spec.uses_gpus else ''}"
        for entry in load_catalog(ROOT / "models", 1)
        for version, digest in entry.gated.items()
    ]
    # iris v1 is declared and gated but not served: a rollback to it is admitted.
    assert len(expected) == 3 and any("/iris:v1-" in image for image in expected)
    assert allowed == admission.allowed_images_literal(expected)
    for deployment in mocks.of_type("kubernetes:apps/v1:Deployment"):
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
            assert container["image"] in expected, deployment.name
