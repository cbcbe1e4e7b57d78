"""The local cluster (provider) and the platform namespaces: pure builders and the program."""

from __future__ import annotations

from pathlib import Path

from components.target.local import LocalClusterArgs, provider_args
from components.target.namespaces import namespace_metadata
from tests.support.mocks import run_program, stack_config

NAMESPACE = "kubernetes:core/v1:Namespace"
PROVIDER = "pulumi:providers:kubernetes"


def test_without_kubeconfig_the_provider_renders_to_the_directory() -> None:
    args = LocalClusterArgs(kubeconfig="", context="", render_directory="build/manifests/local")
    provider = provider_args(args)
    assert provider.render_yaml_to_directory == "build/manifests/local"
    assert provider.kubeconfig is None


def test_with_kubeconfig_the_provider_targets_that_cluster_and_context() -> None:
    args = LocalClusterArgs(kubeconfig="/k/config", context="kind-gpu", render_directory="x")
    provider = provider_args(args)
    assert (provider.kubeconfig, provider.context) == ("/k/config", "kind-gpu")
    assert provider.render_yaml_to_directory is None
    no_context = LocalClusterArgs(kubeconfig="/k/config", context="", render_directory="x")
    assert provider_args(no_context).context is None


def test_namespace_metadata_enforces_restricted_pod_security() -> None:
    metadata = namespace_metadata("models", "models", "local")
    labels = metadata["labels"]
    assert metadata["name"] == "models"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.33"
    assert labels["gpu-model-platform/role"] == "models"
    assert labels["gpu-model-platform/environment"] == "local"


def test_local_program_registers_one_provider_and_both_namespaces_through_it() -> None:
    mocks = run_program(stack_config("local"))
    providers = mocks.of_type(PROVIDER)
    assert len(providers) == 1
    assert providers[0].inputs["renderYamlToDirectory"] == "build/manifests/local"
    namespaces = mocks.of_type(NAMESPACE)
    names = sorted(ns.inputs["metadata"]["name"] for ns in namespaces)
    assert names == ["gpu-platform", "models", "node-agents"]
    for ns in namespaces:
        assert "$pulumi:providers:kubernetes::local-kubernetes::" in (ns.provider or ""), (
            f"{ns.name} must use the stack's explicit provider, got {ns.provider}"
        )
        labels = ns.inputs["metadata"]["labels"]
        # Only the node agents' own namespace allows host access (components/target/namespaces.py).
        level = "privileged" if ns.inputs["metadata"]["name"] == "node-agents" else "restricted"
        assert labels["pod-security.kubernetes.io/enforce"] == level, ns.name


def test_program_with_kubeconfig_deploys_instead_of_rendering(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    mocks = run_program(stack_config("local", kubeconfig=str(kubeconfig)))
    (provider,) = mocks.of_type(PROVIDER)
    assert provider.inputs["kubeconfig"] == str(kubeconfig)
    assert "renderYamlToDirectory" not in provider.inputs
