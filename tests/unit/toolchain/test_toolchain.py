"""The toolchain follows the Python pins; what it would build is derived from them alone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.facts import versions
from components.facts.versions import KUBERNETES_PROVIDER_PSEUDO_VERSIONS
from toolchain.gobuild import PROJECT_ROOT, ToolchainError, run_command_line
from toolchain.pulumi_engine import (
    ENGINE_GO_ENV,
    FILE_BACKEND_QUERY,
    REQUIREMENTS,
    go_binaries,
    read_pins,
)


def test_pins_come_from_requirements_and_have_a_provider_module() -> None:
    pins = read_pins()
    assert pins.kubernetes in KUBERNETES_PROVIDER_PSEUDO_VERSIONS
    builds = {binary.name: binary for binary in go_binaries(pins)}
    assert builds["pulumi"].version == f"v{pins.pulumi}"
    assert builds["pulumi"].replaces == {"github.com/pulumi/pulumi/sdk/v3": f"v{pins.pulumi}"}
    provider = builds["pulumi-resource-kubernetes"]
    sdk = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
    assert provider.replaces == {sdk: f"v{pins.kubernetes}"}
    assert provider.generate_env == {"VERSION": pins.kubernetes}
    assert any(pins.kubernetes in flag for flag in provider.ldflags)


def test_a_cache_key_changes_with_every_pinned_version() -> None:
    pins = read_pins()
    assert pins.pulumi in pins.key and pins.kubernetes in pins.key


def test_missing_pin_is_named(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pulumi>=3.0\npulumi-kubernetes==4.25.0\n")
    with pytest.raises(ToolchainError, match=r"no exact pin \(==\) for pulumi$"):
        read_pins(requirements)


def test_unknown_provider_release_says_what_to_record(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pulumi==3.215.0\npulumi-kubernetes==9.9.9\n")
    with pytest.raises(ToolchainError, match="KUBERNETES_PROVIDER_PSEUDO_VERSIONS"):
        go_binaries(read_pins(requirements))


def test_requirements_pin_what_the_versions_module_pins() -> None:
    """pip reads requirements.txt, everything else components.facts.versions: they must agree."""
    pinned = dict(
        line.split("==", 1)
        for line in REQUIREMENTS.read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    )
    assert {name: pinned[name] for name in EXPECTED_PINS} == {
        name: getattr(versions, attribute) for name, attribute in EXPECTED_PINS.items()
    }


EXPECTED_PINS = {
    "pulumi": "PULUMI_SDK",
    "pulumi-kubernetes": "PULUMI_KUBERNETES",
    "pulumi-aws": "PULUMI_AWS",
    "pulumi-docker": "PULUMI_DOCKER",
    "pulumi-policy": "PULUMI_POLICY",
}


def test_every_tool_shares_one_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[str]] = []

    def broken(_: list[str]) -> None:
        raise ToolchainError("the module proxy refused it")

    def tool(*argv: str) -> int:
        commands = {"setup": seen.append, "broken": broken}
        doc = "usage: the tool's docstring"
        return run_command_line(
            ["tool", *argv], doc=doc, tag="tool", commands=commands, default="setup"
        )

    assert tool() == 0 and tool("setup", "a") == 0
    assert seen == [[], ["a"]]
    assert tool("nope") == 2
    assert "usage: the tool's docstring" in capsys.readouterr().err
    assert tool("broken") == 1
    assert capsys.readouterr().err == "[tool] error: the module proxy refused it\n"


def test_one_build_per_binary_while_others_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # make test builds some tools in the background while the tests run: a test needing one
    # must wait for that build, not start a second one beside it.
    import threading
    import time

    from toolchain import gobuild

    builds: list[str] = []

    def slow_build(go: str, spec: gobuild.GoBinary, bin_dir: Path, log: object = None) -> None:
        builds.append(spec.name)
        time.sleep(0.3)
        (bin_dir / spec.name).write_text("binary")

    monkeypatch.setattr(gobuild, "build_module_binary", slow_build)
    monkeypatch.setattr(gobuild, "require_go", lambda needed_for="": "go")
    spec = gobuild.GoBinary(name="tool", module="example.com/tool", version="v1", package=".")
    path = tmp_path / "bin" / "tool"
    found: list[Path] = []
    threads = [
        threading.Thread(target=lambda: found.append(gobuild.cached_binary(spec, path, "a test")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == ["tool"]
    assert found == [path, path, path] and path.read_text() == "binary"


def test_the_makefile_runs_the_engine_as_the_tests_do() -> None:
    """The Makefile's engine settings are toolchain/pulumi_engine.py's, which the tests and the
    bench use (tests/support/engine.py): what is measured and tested is what `make up` runs."""
    show = "show-engine-env: ; @echo $$GOGC $$GOMEMLIMIT $$PULUMI_BACKEND_URL"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"GOGC", "GOMEMLIMIT", "PULUMI_BACKEND_URL", "MAKEFLAGS", "MAKELEVEL"}
    }
    shown = subprocess.run(
        ["make", "-s", f"--eval={show}", "show-engine-env"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    gogc, memory_limit, backend = shown
    assert {"GOGC": gogc, "GOMEMLIMIT": memory_limit} == ENGINE_GO_ENV
    assert backend == f"file://{PROJECT_ROOT}/.pulumi-state?{FILE_BACKEND_QUERY}"
