"""Imports run one way, and the tree says so (STYLE.md, "How the tree shows the architecture").

Every Python file of the project is parsed (nothing is imported or run) and each of its imports
checked against the rules below; a test also plants a wrong import in a copy of a small tree and
expects it named, so the rules cannot pass by reading nothing.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.mocks import ROOT

# The deploy program's library, layer by layer: a package imports only packages of lower layers
# (and itself). Same layer, different package: not allowed either.
COMPONENT_LAYERS = {
    "components.facts": 0,
    "components.outputs": 0,
    "components.tokens": 0,
    "components.settings": 1,
    "components.catalog": 1,
    "components.aws": 2,
    "components.fleet": 2,
    "components.target": 3,
    "components.serving": 4,
    "components.monitoring": 5,
    "components.autoscaling": 6,
}
PROJECT_PACKAGES = (
    "components",
    "programs",
    "commands",
    "toolchain",
    "policies",
    "tests",
    "bench",
)
# Third-party packages the shared facts may use: validated types need pydantic, the one strict YAML
# reader (facts/yaml_input.py) PyYAML; nothing else. The build tools never import that reader.
FACTS_THIRD_PARTY = ("pydantic", "yaml")
SOURCE_FOLDERS = ("components", "programs", "commands", "toolchain", "policies", "tests", "bench")


@dataclass(frozen=True)
class Import:
    source: str
    """The importing module, dotted."""
    target: str
    """The imported module, dotted (the module of a `from x import y`)."""
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    source = module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(source, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(Import(source, node.module, node.lineno))
            # `from components.facts import labels` imports the module components.facts.labels.
            found += [
                Import(source, f"{node.module}.{alias.name}", node.lineno) for alias in node.names
            ]
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def top_package(module: str) -> str:
    return module.partition(".")[0]


def component_of(module: str) -> str | None:
    return next((pkg for pkg in COMPONENT_LAYERS if within(module, pkg)), None)


def is_test_module(module: str) -> bool:
    return within(module, "tests") and not within(module, "tests.support") and module != "tests"


def problem(imported: Import) -> str | None:
    """Why this import breaks the architecture, or None."""
    source, target = imported.source, imported.target
    target_top = top_package(target)
    project_target = target_top in PROJECT_PACKAGES
    if source == "__main__":
        if project_target and target_top not in ("components", "programs"):
            return "the program imports the components and programs only"
        return None
    if within(source, "programs"):
        if project_target and target_top not in ("components", "programs"):
            return "a stack's program imports the components only"
        return None
    if within(source, "components"):
        if project_target and target_top != "components":
            return "the program's library never imports commands, build tools, tests or bench"
        here, there = component_of(source), component_of(target)
        allowed = ("components", *FACTS_THIRD_PARTY, *sys.stdlib_module_names)
        if here == "components.facts" and target_top not in allowed:
            return "shared facts import the standard library, pydantic and yaml only"
        if here and there and here != there and COMPONENT_LAYERS[there] >= COMPONENT_LAYERS[here]:
            return (
                f"{here} (layer {COMPONENT_LAYERS[here]}) may not import {there} "
                f"(layer {COMPONENT_LAYERS[there]})"
            )
        return None
    if within(source, "policies"):
        if project_target and target_top != "policies" and not within(target, "components.facts"):
            return "policies import only the shared facts (components.facts) of the project"
        return None
    if within(source, "commands"):
        if target_top in ("toolchain", "tests", "bench"):
            return "product commands never import build tools, tests or bench"
        return None
    if within(source, "toolchain"):
        if project_target and target_top != "toolchain" and not within(target, "components.facts"):
            return "build tools run under a bare python3: they import only components.facts"
        if not project_target and target_top not in sys.stdlib_module_names:
            return "build tools run under a bare python3: standard library only"
        return None
    if within(source, "bench"):
        if project_target and target_top != "bench" and not within(target, "tests.support"):
            return "bench imports only tests.support of the project"
        return None
    if within(source, "tests") and is_test_module(target):
        return "test modules never import each other: shared helpers live in tests.support"
    return None


def violations(root: Path) -> list[str]:
    found = []
    files = [root / "__main__.py"] if (root / "__main__.py").exists() else []
    for folder in SOURCE_FOLDERS:
        files += sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []
    for path in files:
        for imported in imports_of(path, root):
            why = problem(imported)
            if why:
                where = f"{path.relative_to(root)}:{imported.line}"
                found.append(f"{where} imports {imported.target}: {why}")
    return found


def test_imports_run_one_way() -> None:
    assert violations(ROOT) == []


def test_the_rules_read_every_source_folder() -> None:
    counted = {folder: len(list((ROOT / folder).rglob("*.py"))) for folder in SOURCE_FOLDERS}
    assert all(counted.values()), counted


def plant(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_a_wrong_import_is_named(tmp_path: Path) -> None:
    plant(tmp_path, "components/monitoring/crds.py", "from toolchain.operator_crds import setup\n")
    plant(tmp_path, "components/facts/gpu.py", "import pulumi\n")
    plant(tmp_path, "components/aws/eks.py", "from components.serving import builders\n")
    plant(tmp_path, "policies/rules/x.py", "from components.serving.builders import tracks\n")
    plant(tmp_path, "toolchain/plane/nodes.py", "import yaml\n")
    plant(tmp_path, "bench/fleet.py", "from tests.unit.catalog.test_catalog import models\n")
    plant(tmp_path, "tests/unit/test_x.py", "from tests.unit.serving.test_serving import spec\n")
    plant(tmp_path, "commands/gate.py", "from components.catalog.load import parse_spec\n")
    found = violations(tmp_path)
    assert sorted({line.partition(":")[0] for line in found}) == [
        "bench/fleet.py",
        "components/aws/eks.py",
        "components/facts/gpu.py",
        "components/monitoring/crds.py",
        "policies/rules/x.py",
        "tests/unit/test_x.py",
        "toolchain/plane/nodes.py",
    ], found
    assert any("layer 2) may not import components.serving (layer 4)" in line for line in found)


def component_tokens(root: Path) -> list[tuple[str, str, str, str]]:
    """(file, subpackage, class, area) of every `type_token(area, Class)` in the components."""
    found = []
    for path in sorted((root / "components").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for call in ast.walk(node):
                    if (
                        isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Name)
                        and call.func.id == "type_token"
                    ):
                        area, component = call.args
                        assert isinstance(area, ast.Constant) and isinstance(component, ast.Name)
                        package = path.relative_to(root / "components").parts[0]
                        found.append((str(path), package, component.id, str(area.value)))
                        assert component.id == node.name, f"{path}: {component.id} in {node.name}"
    return found


def test_component_types_are_named_after_their_package_and_class() -> None:
    tokens = component_tokens(ROOT)
    assert len(tokens) >= 10
    assert [(f, package) for f, package, _, area in tokens if area != package] == []
    literal = [
        str(path)
        for path in (ROOT / "components").rglob("*.py")
        if 'super().__init__("gpu-model-platform:' in path.read_text()
    ]
    assert literal == []
