"""The platform program and a models stack's program under mocks, with a models stacks file:
each model's objects in exactly one stack, the allow-list still the whole fleet's, and what a
models stack receives by `pulumi state move` aliased to where it was (docs/fleet-scale.md)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.catalog.load import CatalogError, load_catalog
from components.fleet.stacks import FleetStacksError, StackRole
from components.settings.load import PROJECT
from programs import models as models_program
from programs import platform as platform_program
from tests.support.mocks import ROOT, RecordingMocks, stack_config, use_mocks

SERVICE = "gpu-model-platform:serving:ModelService"
MONITORING = "gpu-model-platform:monitoring:ModelMonitoring"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
PROVIDER = "pulumi:providers:kubernetes"


def project_with(tmp_path: Path, stacks: dict[str, str]) -> Path:
    """A copy of the project's models and the given stacks/<name>.yaml files."""
    shutil.copytree(ROOT / "models", tmp_path / "models")
    (tmp_path / "stacks").mkdir()
    for name, text in stacks.items():
        (tmp_path / "stacks" / f"{name}.yaml").write_text(text)
    return tmp_path


def run(
    program: Any, project: Path, role: StackRole, config: dict[str, Any], **outputs: Any
) -> RecordingMocks:
    mocks = RecordingMocks()
    mocks.stack_outputs = {f"organization/{PROJECT}/{role.platform}": outputs}
    use_mocks(config, role.stack, mocks)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> None:
        program.run(project, role)

    _run()
    return mocks


def names(mocks: RecordingMocks, typ: str) -> set[str]:
    return {r.name for r in mocks.of_type(typ)}


def urn(stack: str, *chain: tuple[str, str]) -> str:
    types = "$".join(type_ for type_, _ in chain)
    return f"urn:pulumi:{stack}::{PROJECT}::{types}::{chain[-1][1]}"


def test_the_platform_deploys_only_the_models_no_models_stack_holds(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"local": "modelStacks:\n  vision: [digits]\n"})
    mocks = run(platform_program, project, StackRole("local"), stack_config("local"))
    assert names(mocks, SERVICE) == {"iris"}
    assert names(mocks, MONITORING) == {"iris-monitoring"}
    assert names(mocks, SCALED_OBJECT) == set()  # digits is the model scaling through KEDA
    # The allow-list stays the whole fleet's: digits' images are admitted from the platform.
    [policy] = mocks.of_type(POLICY)
    allowed = next(v for v in policy.inputs["spec"]["variables"] if v["name"] == "allowed")
    assert "/digits:v" in allowed["expression"] and "/iris:v" in allowed["expression"]


def test_a_models_stack_deploys_its_models_on_the_platforms_cluster(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"local": "modelStacks:\n  vision: [digits]\n"})
    role = StackRole("local", "vision")
    mocks = run(models_program, project, role, stack_config("local"), namespaces={})
    assert names(mocks, SERVICE) == {"digits"}
    assert names(mocks, "kubernetes:apps/v1:Deployment") == {"digits-stable"}
    assert names(mocks, MONITORING) == {"digits-monitoring"}
    assert names(mocks, SCALED_OBJECT) == {"digits-stable-scaledobject"}
    # Nothing of the platform's: no namespaces, CRDs, charts or admission policy.
    kinds = {r.typ for r in mocks.resources}
    assert not {t for t in kinds if "CustomResourceDefinition" in t or "Namespace" in t}
    assert POLICY not in kinds and "gpu-model-platform:target:LocalCluster" not in kinds
    # It reads the platform stack, which must exist (applied first).
    [reference] = mocks.of_type("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == f"organization/{PROJECT}/local"
    # One explicit provider, rendering where the platform renders.
    [provider] = mocks.of_type(PROVIDER)
    assert provider.name == "local-kubernetes"
    assert provider.inputs["renderYamlToDirectory"] == stack_config("local")["renderDirectory"]


def test_a_broken_model_fails_its_own_stack_and_the_platform_not_another_models_stack(
    tmp_path: Path,
) -> None:
    """A models stack loads and validates only its models: iris's gate no longer matching its
    files stops the platform, which holds iris and admits every model's images, and leaves the
    stack of digits to preview and apply."""
    project = project_with(tmp_path, {"local": "modelStacks:\n  vision: [digits]\n"})
    weights = project / "models" / "iris" / "savedmodel" / "2" / "saved_model.pb"
    weights.write_bytes(weights.read_bytes() + b"retrained")
    role = StackRole("local", "vision")
    mocks = run(models_program, project, role, stack_config("local"), namespaces={})
    assert names(mocks, SERVICE) == {"digits"}
    with pytest.raises(CatalogError, match="models/iris/savedmodel/2: files changed"):
        run(platform_program, project, StackRole("local"), stack_config("local"))


def test_what_state_move_brings_is_aliased_to_where_it_was(tmp_path: Path) -> None:
    # `pulumi state move` keeps each URN's parent types; the models program declares these at
    # its top level, so each needs an alias of its platform parent, or the engine would plan a
    # replacement of the model's objects (or, for the provider, of everything it manages).
    project = project_with(tmp_path, {"local": "modelStacks:\n  vision: [digits]\n"})
    role = StackRole("local", "vision")
    stack = role.stack
    mocks = run(models_program, project, role, stack_config("local"), namespaces={})
    expected = {
        (PROVIDER, "local-kubernetes"): urn(
            stack, ("gpu-model-platform:target:LocalCluster", "local")
        ),
        (MONITORING, "digits-monitoring"): urn(
            stack, ("gpu-model-platform:monitoring:MonitoringStack", "monitoring")
        ),
        (SCALED_OBJECT, "digits-stable-scaledobject"): urn(
            stack, ("gpu-model-platform:autoscaling:KedaAutoscaling", "autoscaling")
        ),
    }
    for key, parent in expected.items():
        registration = mocks.registrations[key]
        assert [alias[2] for alias in registration.aliases] == [parent], key
        # Top level: its parent is the stack itself.
        assert registration.parent.split("::")[-2] == "pulumi:pulumi:Stack", key
    # The ModelService was top-level already: same URN but for the stack.
    assert mocks.registrations[(SERVICE, "digits")].aliases == []


def test_on_aws_a_models_stack_uses_the_platforms_kubeconfig_and_registry(
    tmp_path: Path,
) -> None:
    project = project_with(tmp_path, {"dev": "modelStacks:\n  vision: [digits, iris]\n"})
    role = StackRole("dev", "vision")
    config = stack_config("dev")
    mocks = run(models_program, project, role, config, kubeconfig="apiVersion: v1\n")
    [provider] = mocks.of_type(PROVIDER)
    assert provider.name == "aws-eks-kubernetes"
    assert provider.inputs["kubeconfig"] == "apiVersion: v1\n"
    parent = urn(
        role.stack,
        ("gpu-model-platform:aws:AwsCluster", "aws"),
        ("gpu-model-platform:aws:EksCluster", "aws-eks"),
    )
    assert [a[2] for a in mocks.registrations[(PROVIDER, "aws-eks-kubernetes")].aliases] == [parent]
    account, region = config["awsAccountId"], config["awsRegion"]
    cluster = f"{PROJECT}-dev"
    for deployment in mocks.of_type("kubernetes:apps/v1:Deployment"):
        image = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith(f"{account}.dkr.ecr.{region}.amazonaws.com/{cluster}/"), image
    # No cluster, network or repository of its own.
    assert not [r for r in mocks.resources if r.typ.startswith("aws:")]


def test_a_models_stack_not_in_the_file_fails_before_any_resource(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"local": "modelStacks:\n  vision: [digits]\n"})
    with pytest.raises(FleetStacksError, match="modelStacks has no 'nlp'"):
        run(models_program, project, StackRole("local", "nlp"), stack_config("local"))


def test_every_model_is_deployed_by_exactly_one_stack(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"local": "modelStacks:\n  a: [digits]\n  b: [iris]\n"})
    deployed: list[str] = []
    for role in (StackRole("local"), StackRole("local", "a"), StackRole("local", "b")):
        mocks = run(
            models_program if role.models_stack else platform_program,
            project,
            role,
            stack_config("local"),
            namespaces={},
        )
        deployed += sorted(names(mocks, SERVICE))
    assert sorted(deployed) == sorted(e.spec.name for e in load_catalog(project / "models", 1))
