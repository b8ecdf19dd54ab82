"""Safe YAML loading that remembers where each key was written.

PyYAML's ``safe_load`` forgets line numbers, silently keeps the last of two equal keys and expands
aliases without limit (the "billion laughs" file). Here a document is composed into nodes with the
safe loader (no Python tags, no object construction), then converted by hand so that:

- every mapping key and sequence item gets its line, looked up by key path;
- a duplicated key is an error;
- alias expansion is bounded by a node budget, so a hostile file fails fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import Problem

MAX_NODES = 200_000  # after alias expansion; a real scenario has a few hundred
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}


@dataclass
class Document:
    """A YAML document as plain Python data plus the line of every key path (1-based)."""

    data: object
    file: str
    lines: dict[tuple, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int | None:
        """Line of ``path`` or of its nearest parent that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def problem(self, path: tuple, message: str) -> Problem:
        return Problem(self.file, self.line(path), key_path(path), message)


class Index(int):
    """A position in a YAML list (shown as [i]), as opposed to a number used as a mapping key (a year)."""


def number(value, finite: bool = True) -> float | None:
    """A YAML number as a float (``true`` is not a number), or None; ``finite=False`` admits .inf."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (finite and not math.isfinite(value)):
        return None
    return float(value)


def key_path(path: tuple) -> str:
    """``('policies', 'coal_cap', 'ordos', 2025)`` -> ``policies.coal_cap.ordos.2025``; list items as ``[i]``."""
    text = ""
    for part in path:
        if isinstance(part, Index):
            text += f"[{int(part)}]"
        else:
            text += ("." if text else "") + str(part)
    return text


class _TooBig(Exception):
    pass


class _Converter:
    def __init__(self, doc: Document, problems: list[Problem]):
        self.doc = doc
        self.problems = problems
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: tuple):
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig()
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the tag {node.tag!r} is not allowed (no Python objects in scenario files)",
                node.start_mark,
            )
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolves "<<" merge keys
            result = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(
                        Problem(
                            self.doc.file,
                            key_node.start_mark.line + 1,
                            self._path_text(path),
                            "mapping keys must be plain scalars",
                        )
                    )
                    continue
                key = self.constructor.construct_object(key_node)
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                if key in result:
                    self.problems.append(
                        Problem(
                            self.doc.file,
                            key_node.start_mark.line + 1,
                            key_path(path + (key,)),
                            "duplicate key (the earlier one would be silently lost)",
                        )
                    )
                    continue
                self.doc.lines[path + (key,)] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (Index(i),)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)

    @staticmethod
    def _path_text(path):
        return key_path(path) if path else "(top)"


def load(path: str | Path, text: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Load one YAML file safely. Returns (document, problems); document is None if unreadable."""
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, [Problem(name, None, "", "file not found")]
        except (OSError, UnicodeDecodeError) as exc:
            return None, [Problem(name, None, "", f"cannot read the file: {exc}")]
    doc = Document(None, name)
    problems: list[Problem] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        return None, [Problem(name, line, "", f"invalid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(name, None, "", f"invalid YAML: {exc}")]
    if node is None:
        doc.data = {}
        return doc, problems
    try:
        doc.data = _Converter(doc, problems).convert(node, ())
    except _TooBig:
        return None, [
            Problem(name, None, "", f"the document expands to more than {MAX_NODES} nodes (aliases nested too deeply?)")
        ]
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        return None, [Problem(name, mark.line + 1 if mark else None, "", f"invalid YAML value: {exc.problem}")]
    except (ValueError, TypeError) as exc:  # e.g. an impossible timestamp
        return None, [Problem(name, None, "", f"invalid YAML value: {exc}")]
    return doc, problems
