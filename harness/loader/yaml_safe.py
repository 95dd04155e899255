"""YAML → plain values, safely: line numbers kept for every mapping and key, nesting, size, aliases
and numbers bounded while the node tree is read (before any object is built), no tags that run code."""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.case import CaseError
from harness.loader.common import short_repr

MAX_DEPTH = 32  # nesting of YAML values, aliases expanded; the library needs 9
MAX_VALUES = 50_000  # YAML values in one file, aliases expanded; the library needs under 1,000
MAX_ALIASES = 100
MAX_NUMBER_CHARS = 40  # a longer integer literal is refused before Python converts it

# ---------------------------------------------------------------------------------------------
# YAML with line numbers, bounded


class _LineDict(dict):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict
    seq_lines: dict  # key → the line of each item of its list value




class _NumberTooLong(yaml.constructor.ConstructorError):
    """An integer literal too long to convert; `field` is the key it belongs to, once known."""

    field: str | None = None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags, nothing executed) that records line numbers of mappings and
    refuses documents nested deeper than MAX_DEPTH or holding more than MAX_VALUES values
    (aliases counted as the copies they stand for), before anything is constructed."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = self._values = self._aliases = 0
        self._heights: dict[int, int] = {}  # id(node) → levels, aliases expanded
        self._sizes: dict[int, int] = {}  # id(node) → values, aliases expanded

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._compose_alias(parent, index, event)
        if self._depth >= MAX_DEPTH:
            raise _limit(f"nested deeper than {MAX_DEPTH} levels (case files need about 10)", event)
        before = self._values
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, event)
        self._heights[id(node)] = 1 + max((self._heights[id(c)] for c in _children(node)), default=0)
        self._sizes[id(node)] = self._values - before
        return node

    def _compose_alias(self, parent, index, event: yaml.AliasEvent) -> yaml.Node:
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise _limit(f"more than {MAX_ALIASES} aliases (*name): refused, as aliases can expand a "
                         "small file exponentially", event)
        node = super().compose_node(parent, index)
        if id(node) not in self._heights:
            raise _limit(f"alias *{event.anchor} is used inside its own anchor &{event.anchor} "
                         "(a recursive structure)", event)
        if self._depth + self._heights[id(node)] > MAX_DEPTH:
            raise _limit(f"alias *{event.anchor} nests the document deeper than {MAX_DEPTH} levels", event)
        self._count(self._sizes[id(node)], event)
        return node

    def _count(self, values: int, event) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise _limit(f"the file holds more than {MAX_VALUES:,} values (aliases counted as copies); "
                         "case files need far fewer", event)

    def construct_object(self, node, deep=False):
        # PyYAML's own constructors raise plain ValueError etc. for `!!int abc`, `2024-13-45`, ...
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {short_repr(node.value)} as {tag}: {exc}", node.start_mark
            ) from None


def _limit(message: str, event) -> yaml.composer.ComposerError:
    return yaml.composer.ComposerError(None, None, message, event.start_mark)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    result = _LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines, result.seq_lines = {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping keys must be plain scalars, got {short_repr(key)}", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {short_repr(key)}", key_node.start_mark
            )
        try:
            result[key] = loader.construct_object(value_node, deep=True)
        except _NumberTooLong as exc:
            exc.field = exc.field or str(key)
            raise
        result.key_lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.SequenceNode):
            result.seq_lines[key] = [item.start_mark.line + 1 for item in value_node.value]
    return result


def _construct_int(loader: _LineLoader, node: yaml.ScalarNode) -> int:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(None, None, f"the number {node.value[:12]}… ({len(node.value)} characters) is "
                             f"too large; numbers have at most {MAX_NUMBER_CHARS} characters", node.start_mark)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)

_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a new line


def line_and_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character position, counting lines as YAML does."""
    starts = [m.end() for m in _LINE_BREAK.finditer(text, 0, position)]
    return len(starts) + 1, position - (starts[-1] if starts else 0) + 1


def _character_error(text: str, exc: yaml.reader.ReaderError, file: str) -> CaseError:
    line, column = line_and_column(text, exc.position)
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    kind = "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "character"
    return CaseError(file, line, None, None, f"invalid YAML: {kind} U+{code:04X} {chr(code)!a} is not allowed in "
                     "a case file; delete it, or write it as an escape such as \\t inside double quotes", column)


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML safely; any syntax error, unsafe tag or size limit becomes a CaseError with the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.reader.ReaderError as exc:
        raise _character_error(text, exc, file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or str(exc)
        field = getattr(exc, "field", None)
        raise CaseError(file, line, None, field, f"invalid YAML: {problem}", column) from None
    except yaml.YAMLError as exc:
        raise CaseError(file, None, None, None, f"invalid YAML: {exc}") from None


