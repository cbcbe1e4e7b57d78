"""Case 4: the engine's floor. A trivial Pulumi Python program, in its own project and backend,
that registers as many resources of each kind as our stack at the same N: the same runtime and
interpreter, the same Kubernetes provider in render mode, as many component resources, one small
ConfigMap for each of our Kubernetes objects, and as many StackReferences as ours reads (a models
stack's, to its platform stack). What it costs is what the CLI, the language host, the Python SDK
and the provider cost at that resource count, with no work of ours.

Its config `changed` labels the first that many ConfigMaps `revision: "1"`: set after an `up`, it
makes the floor's counterpart of a change of ours that updates as many objects (an update in
place, as a label is; a change of a ConfigMap's data would replace it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.program import Composition
from tests.support.engine import ROOT, LocalStack, engine_env

PROJECT = "preview-floor"

PROGRAM = '''"""Engine floor for bench/: components, ConfigMaps, StackReferences; nothing else."""

import pulumi
import pulumi_kubernetes as k8s

PROJECT = pulumi.get_project()
config = pulumi.Config()
provider = k8s.Provider(
    "floor-kubernetes", render_yaml_to_directory=config.require("renderDirectory")
)
for index in range(config.require_int("components")):
    pulumi.ComponentResource("preview-floor:index:Group", f"group-{index}").register_outputs({})
child = pulumi.ResourceOptions(provider=provider)
changed = config.require_int("changed")
# A models stack's read of its platform stack's outputs: the platform is `local`, as ours.
for index in range(config.require_int("references")):
    pulumi.StackReference(f"platform-{index}", stack_name=f"organization/{PROJECT}/local")
for index in range(config.require_int("objects")):
    k8s.core.v1.ConfigMap(
        f"object-{index}",
        metadata={
            "name": f"object-{index}",
            "namespace": "floor",
            "labels": {"revision": "1" if index < changed else "0"},
        },
        data={"index": str(index)},
        opts=child,
    )
'''


def floor_config(
    composition: Composition, changed: int = 0, stack: str = "local"
) -> dict[str, Any]:
    """The floor's config: as many components and objects as `composition`, one provider, the
    first `changed` objects labelled as changed; each stack renders to its own folder."""
    return {
        "components": composition.components,
        # Providers beyond the one Kubernetes provider are counted as objects: same total.
        "objects": composition.objects + composition.providers - 1,
        "changed": changed,
        "references": composition.references,
        "renderDirectory": f"build/manifests/{stack}",
    }


def write_floor_program(project: Path) -> Path:
    """The floor project (same `runtime:` block as ours); returns its __main__.py."""
    ours = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": PROJECT, "runtime": ours["runtime"]}, sort_keys=False)
    )
    main = project / "__main__.py"
    main.write_text(PROGRAM)
    return main


def create_floor_stacks(workdir: Path, compositions: dict[str, Composition]) -> list[LocalStack]:
    """A stack of the floor program for each of ours (same names, in order), in one project with
    its own file backend, each sized like ours."""
    write_floor_program(workdir / "project")
    backend = workdir / "state"
    backend.mkdir()
    stacks = []
    for name, composition in compositions.items():
        stack = LocalStack(project=workdir / "project", env=engine_env(backend), stack=name)
        stack.pulumi("stack", "init", stack.stack, "--secrets-provider", "passphrase")
        pairs = [f"{key}={value}" for key, value in floor_config(composition, stack=name).items()]
        stack.pulumi("config", "set-all", *(arg for pair in pairs for arg in ("--plaintext", pair)))
        stacks.append(stack)
    return stacks


def create_floor_stack(workdir: Path, composition: Composition) -> LocalStack:
    """A `local` stack of the floor program, with its own file backend, sized like ours."""
    [stack] = create_floor_stacks(workdir, {"local": composition})
    return stack
