"""Reading the YAML files people write (model.yaml, values files, price table): strictly.

PyYAML keeps the last of two equal keys without a word, so a key written twice silently replaces
the first (once, a second `replicas:` under `serving` dropped a PodDisruptionBudget). Every YAML
file the project reads goes through `load_yaml`, which refuses a duplicate key naming both lines,
and through `read_bounded`, which refuses a file over its size limit or one that is a symlink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (its wheels are): the pure-Python one spends about
# 30 ms on one model.yaml, which at a few hundred models is most of the program's own time.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputError(ValueError):
    """A file cannot be read as input; the message starts with the file's name."""


class StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                earlier = first_line.setdefault(key, line)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if earlier != line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} at line {line} (first at line {earlier}); the second "
                    "would silently replace the first",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _problem(error: yaml.YAMLError) -> str:
    if (
        isinstance(error, yaml.MarkedYAMLError)
        and error.problem
        and "duplicate key" in error.problem
    ):
        return error.problem
    return f"not valid YAML: {error}"


def load_yaml(text: str, source: str) -> Any:
    """The document in `text`; InputError naming `source` on invalid YAML or a duplicate key."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as error:
        raise InputError(f"{source}: {_problem(error)}") from None


def read_bounded(path: Path, max_bytes: int, source: str) -> str:
    """The text of `path`, refused if it is a symlink or larger than `max_bytes`.

    Symlinks are refused because the digest and review cover the link, not what it points at,
    and a link can reach outside the repository. The size is checked before reading.
    """
    if path.is_symlink():
        raise InputError(f"{source}: is a symlink; files here must be regular files in the tree")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{source}: {size} bytes, over the limit of {max_bytes} bytes")
    return path.read_text()
