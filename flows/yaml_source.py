"""YAML reading that remembers the line of every value, so problems can point at the file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flows.model import FlowValidationError, Problem

Path = tuple[str | int, ...]


class _FlowYamlLoader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans, so `yes`, `no`, `on` stay words (YAML 1.2)."""


_FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class YamlDocument:
    """Plain Python data of a YAML file plus the line (1-based) of every mapping key and item."""

    data: Any
    lines: dict[Path, int]
    source: str

    def line(self, path: Path) -> int:
        """Line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def read_yaml(text: str, source: str) -> YamlDocument:
    """Parse YAML text; syntax errors and duplicate keys become FlowValidationError with the line."""
    loader = _FlowYamlLoader(text)
    lines: dict[Path, int] = {}
    problems: list[Problem] = []

    def build(node: Node, path: Path) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                # Keys are always names (step ids, intents, DTMF keys), so keep their text as written.
                key = str(key_node.value if isinstance(key_node, ScalarNode) else loader.construct_object(key_node))
                if key in out:
                    problems.append(Problem(
                        key_node.start_mark.line + 1, f"duplicate key '{key}'",
                        "remove or rename one of them; YAML keeps only the last",
                    ))
                lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = build(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    try:
        root = loader.get_single_node()
        data = build(root, ()) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(line, f"YAML syntax error: {exc.problem or exc}",
                                "check indentation and quoting on this line or the one before"))
        data = None
    except yaml.YAMLError as exc:
        problems.append(Problem(1, f"YAML error: {exc}", "check the file is valid YAML"))
        data = None
    finally:
        loader.dispose()
    if problems:
        raise FlowValidationError(source, problems)
    return YamlDocument(data, lines, source)
