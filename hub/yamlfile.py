"""YAML read with the line of every value, so an error can say file, line and path.

Rule files, mappings and the agency directory are validated whole with pydantic; each error is
reported as ``rules/10-jalan.yaml:42: rules[3].when.region: ...`` and all errors at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hub.errors import RulesError

Path_ = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, location: Path_) -> int | None:
        """The line of ``location`` or of its nearest parent that has one."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return None

    def where(self, location: Path_) -> str:
        line = self.line_of(location)
        return f"{self.path}:{line}" if line else str(self.path)


def dotted(location: Path_) -> str:
    """('rules', 3, 'when', 'region') -> rules[3].when.region"""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read: {exc.strerror}.") from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RulesError(
            f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}.",
            fix="check indentation and quoting at that line.",
        ) from exc
    finally:
        loader.dispose()
    document = YamlDocument(path, data)
    if node is not None:
        twice = _keys_given_twice(node, ())
        if twice:
            raise RulesError(
                "; ".join(
                    f"{path}:{line}: {dotted(at) or 'top level'}: {key!r} is given twice"
                    for line, at, key in twice
                )
                + " (the second would silently win).",
                fix="keep one of them.",
            )
        _record_lines(node, (), document.lines)
    return document


def _keys_given_twice(node: yaml.Node, location: Path_) -> list[tuple[int, Path_, str]]:
    found = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                found.append((key.start_mark.line + 1, location, key.value))
            seen.add(key.value)
            found += _keys_given_twice(value, (*location, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _keys_given_twice(item, (*location, index))
    return found


def _record_lines(node: yaml.Node, location: Path_, lines: dict[Path_, int]) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*location, key.value)] = key.start_mark.line + 1
            _record_lines(value, (*location, key.value), lines)
            lines[(*location, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*location, index), lines)


def validate(document: YamlDocument, model: type[Model]) -> tuple[Model | None, list[str]]:
    """The document as ``model``, or every validation error as 'file:line: path: message'."""
    try:
        return model.model_validate(document.data), []
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            location = tuple(error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown key {location[-1]!r}"
            errors.append(f"{document.where(location)}: {dotted(location)}: {message}")
        return None, errors
