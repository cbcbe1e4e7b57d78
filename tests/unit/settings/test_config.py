"""Stack configuration: the shipped stack files are valid, and each bad value is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings.load import ConfigError, namespace_problems, parse_settings
from components.settings.model import KEYS, LocalSettings
from tests.support.mocks import (
    ROOT,
    RecordingMocks,
    declared_config,
    run_program,
    stack_config,
)


def test_local_stack_file_is_valid_and_renders_manifests() -> None:
    settings = parse_settings(stack_config("local"), "Pulumi.local.yaml")
    assert isinstance(settings, LocalSettings)
    assert settings.renders_manifests
    assert settings.render_directory == "build/manifests/local"
    assert (settings.platform_namespace, settings.models_namespace) == ("gpu-platform", "models")


def test_every_declared_key_has_type_default_and_description() -> None:
    for key, spec in declared_config().items():
        assert {"type", "default", "description"} <= spec.keys(), f"Pulumi.yaml config.{key}"


def test_declared_keys_and_settings_model_agree() -> None:
    # Defaults live in Pulumi.yaml only; the model must expect exactly the keys declared there.
    assert set(KEYS) == set(declared_config())


def test_kubeconfig_selects_a_real_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    settings = parse_settings(
        stack_config("local", kubeconfig=str(kubeconfig), kubeContext="kind-gpu"), "test"
    )
    assert isinstance(settings, LocalSettings)
    assert not settings.renders_manifests


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"environment": "staging"}, "environment", "Input should be 'local', 'dev' or 'prod'"),
        ({"kubeconfg": "x"}, "kubeconfg", "unknown key"),
        ({"platformNamespace": "Platform_NS"}, "platformNamespace", "is not a DNS-1123 label"),
        ({"modelsNamespace": "m" * 64}, "modelsNamespace", "is not a DNS-1123 label"),
        ({"renderDirectory": "/tmp/out"}, "renderDirectory", "relative to the project"),
        ({"renderDirectory": "../out"}, "renderDirectory", "without '..'"),
        ({"renderDirectory": ""}, "renderDirectory", "non-empty path"),
        ({"maxGpusPerPod": -1}, "maxGpusPerPod", "Input should be greater than or equal to 0"),
        ({"maxGpusPerPod": "two"}, "maxGpusPerPod", "Input should be a valid integer"),
        ({"imageRegistry": "https://reg/x"}, "imageRegistry", "is not an image repository"),
        ({"buildImages": "sometimes"}, "buildImages", "Input should be a valid boolean"),
        ({"rolloutTimeoutSeconds": 5}, "rolloutTimeoutSeconds", "greater than or equal to 30"),
        ({"kubeconfig": "/nonexistent/kubeconfig"}, "", "kubeconfig '/nonexistent/kubeconfig'"),
        ({"kubeContext": "kind-gpu"}, "", "kubeContext is set but kubeconfig is empty"),
        ({"modelsNamespace": "gpu-platform"}, "", "platformNamespace and modelsNamespace must"),
    ],
)
def test_bad_value_is_named_with_file_and_key(
    overrides: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(stack_config("local", **overrides), "Pulumi.local.yaml")
    message = str(raised.value)
    assert message.startswith("invalid stack configuration in Pulumi.local.yaml:")
    assert f"gpu-model-platform{':' + key if key else ''}: " in message
    assert expected in message


def test_missing_key_says_where_to_declare_it() -> None:
    values = stack_config("local")
    del values["modelsNamespace"]
    with pytest.raises(ConfigError, match=r"gpu-model-platform:modelsNamespace: missing; declare"):
        parse_settings(values, "Pulumi.local.yaml")


def test_program_stops_before_registering_any_resource_on_bad_config() -> None:
    mocks = RecordingMocks()
    with pytest.raises(ConfigError, match="gpu-model-platform:platformNamespace"):
        run_program(stack_config("local", platformNamespace="NOT VALID"), mocks=mocks)
    assert mocks.resources == []


def test_keys_of_a_namespace_nothing_reads_are_refused() -> None:
    error = namespace_problems(
        {
            "gpu-model-platfrom:maxGpusPerPod": "2",
            "kubernetes:context": "kind-gpu",
            "gpu-model-platform:maxGpusPerPod": "1",
            "pulumi:disable-default-providers": '["aws"]',
            "docker:host": "unix:///var/run/docker.sock",
        },
        "Pulumi.local.yaml",
    )
    assert error is not None
    assert str(error) == (
        "invalid stack configuration in Pulumi.local.yaml:\n"
        "  gpu-model-platfrom:maxGpusPerPod: unknown namespace 'gpu-model-platfrom'; nothing reads "
        "it (the namespaces read are gpu-model-platform:, pulumi:, docker:)\n"
        "  kubernetes:context: unknown namespace 'kubernetes'; nothing reads it (the namespaces "
        "read are gpu-model-platform:, pulumi:, docker:)"
    )


def test_the_shipped_stack_files_use_only_namespaces_that_are_read() -> None:
    for stack in ("local", "dev", "prod"):
        raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
        assert namespace_problems(list(raw.get("config") or {}), f"Pulumi.{stack}.yaml") is None
