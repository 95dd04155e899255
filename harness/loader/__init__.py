"""YAML case files → validated canonical `Case` objects, with errors that point at file and line.

A file is a mapping with an optional `defaults:` block and a `cases:` list. A case may carry a
`product:` mapping of field → list of values; it expands into one case per combination with ids
like `base-s2-k3-same` (or a format string id such as `"s{stride}-k{kernel}"`).
Loading never raises: `load_file` returns the good cases and a `CaseError` for each bad one (or
one for the whole file), so that one mistake, or one hostile file, never stops the rest of the
library from running. Sizes, nesting, aliases, numbers and expansions are bounded up front.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.case import Case, CaseError
from harness.loader import native, stack
from harness.loader.common import FieldError, did_you_mean, short_repr
from harness.loader.expand import expand
from harness.loader.schema import ID_PATTERN, MAX_ID_LENGTH, Accumulation, CaseSpec, StackSpec, Tolerance, to_case
from harness.loader.yaml_safe import parse_yaml

MAX_FILE_BYTES = 8 * 2**20  # the library's largest file is 7 KiB
MAX_CASES_PER_FILE = 50_000
TOP_LEVEL_KEYS = ("cases", "defaults")


# ---------------------------------------------------------------------------------------------
# files

_UNION_TAG = re.compile(r"^(int|str|bool|float|none|(list|dict|literal|tuple|function-\w+)\[.*\])$")
_MESSAGE_FIRST = ("extra_forbidden", "invalid_key")  # they explain the "missing" errors that come with them


def _unknown_key_message(key: Any, model: type[BaseModel]) -> str:
    allowed = sorted([*model.model_fields, *((*native.FRAMEWORKS, native.WEIGHT_SHAPE) if model is CaseSpec else ())])
    return f"unknown key {short_repr(key)};{did_you_mean(key, allowed)} allowed keys: {', '.join(allowed)}"


def _pydantic_error(exc: ValidationError, file: str, lines: dict, line: int, case_id: str | None,
                    model: type[BaseModel] = CaseSpec) -> CaseError:
    errors = exc.errors()
    err = sorted(errors, key=lambda e: e["type"] not in _MESSAGE_FIRST)[0]
    raw_loc = err["loc"]
    loc = [str(p)[:100] for i, p in enumerate(raw_loc) if i == 0 or not _UNION_TAG.match(str(p))]
    field = ".".join(loc) if loc else None
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        nested = {"tolerance": Tolerance, "accumulation": Accumulation}.get(raw_loc[0]) if len(raw_loc) > 1 else None
        msg = _unknown_key_message(raw_loc[-1], nested or model)
    elif err["type"] == "invalid_key":
        msg = f"keys are field names (text), got {short_repr(err['input'])}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    elif "input" in err:
        msg = f"{msg} (got {short_repr(err['input'])})"
    n = len(errors)
    if n > 1:
        msg += f" (and {n - 1} more problem{'s' if n > 2 else ''})"
    return CaseError(file, lines.get(raw_loc[0], line) if raw_loc else line, case_id, field, msg)


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    except Exception:  # noqa: BLE001 - str() of an exception may itself fail (a huge int)
        return type(exc).__name__


def _never_raises(name: str, line: int | None, load, *args) -> tuple[list[Case], list[CaseError]]:
    """Call a loading step; a CaseError, or anything unexpected, becomes one error for `name`."""
    try:
        return load(*args)
    except CaseError as exc:
        return [], [exc]
    except Exception as exc:  # noqa: BLE001 - the last resort: one file never stops the others
        return [], [CaseError(name, line, None, None, f"internal loader error: {_describe(exc)}")]


def load_file(path: str | Path, root: Path | None = None) -> tuple[list[Case], list[CaseError]]:
    """Load one case file: the valid cases and one error per invalid case (or for the file). Never raises."""
    path = Path(path)
    try:
        name = str(path.relative_to(root)) if root else str(path)
    except ValueError:
        name = str(path)
    return _never_raises(name, None, _load_file, path, name)


def _load_file(path: Path, name: str) -> tuple[list[Case], list[CaseError]]:
    def refuse(message: str, line: int | None = None, column: int | None = None):
        return [], [CaseError(name, line, None, None, message, column)]

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return refuse("cannot read: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            return refuse(f"the file has {info.st_size:,} bytes; case files are limited to {MAX_FILE_BYTES // 2**20} MiB")
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return refuse(f"cannot read: {exc.strerror or exc}")
    if len(data) > MAX_FILE_BYTES:
        return refuse(f"the file has more than {MAX_FILE_BYTES:,} bytes; case files are limited to {MAX_FILE_BYTES // 2**20} MiB")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return refuse("not UTF-8 text: it starts with a UTF-16 byte-order mark; save it as UTF-8", 1, 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        line = data[: exc.start].count(b"\n") + 1
        return refuse(f"not UTF-8 text (byte {exc.start})", line, column)
    return load_text(text, name)


def load_text(text: str, name: str) -> tuple[list[Case], list[CaseError]]:
    """Load case-file text; see `load_file`. Never raises."""
    return _never_raises(name, None, _load_text, text, name)


def _document_parts(doc: Any, name: str) -> tuple[dict, list, int]:
    """The `defaults:` mapping, the `cases:` list and its line; a CaseError for a malformed top level."""
    if not isinstance(doc, dict):
        raise CaseError(name, 1, None, None, "a case file is a mapping with 'cases:' (and optional 'defaults:')")
    key_lines = getattr(doc, "key_lines", {})
    unknown = sorted((k for k in doc if k not in TOP_LEVEL_KEYS), key=str)
    if unknown:
        key = unknown[0]
        raise CaseError(name, key_lines.get(key, 1), None, str(key)[:100], f"unknown top-level key "
                        f"{short_repr(key)};{did_you_mean(key, TOP_LEVEL_KEYS)} allowed: defaults, cases")
    defaults = doc.get("defaults") or {}
    raw_cases = doc.get("cases")
    if not isinstance(defaults, dict):
        raise CaseError(name, key_lines.get("defaults", 1), None, "defaults", "must be a mapping of field → value")
    if not isinstance(raw_cases, list):
        raise CaseError(name, key_lines.get("cases", 1), None, "cases", "must be a list of cases")
    return defaults, raw_cases, key_lines.get("cases", 1)


def _load_text(text: str, name: str) -> tuple[list[Case], list[CaseError]]:
    if len(text) > MAX_FILE_BYTES:
        raise CaseError(name, None, None, None, f"the text has {len(text):,} characters; case files are limited to "
                        f"{MAX_FILE_BYTES // 2**20} MiB")
    doc = parse_yaml(text.removeprefix("\ufeff"), name)
    if doc is None:
        return [], []
    defaults, raw_cases, cases_line = _document_parts(doc, name)
    cases: list[Case] = []
    errors: list[CaseError] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases):
        line = getattr(raw, "line", cases_line)
        if len(cases) + len(errors) > MAX_CASES_PER_FILE:
            errors.append(CaseError(name, line, None, f"cases[{index}]", f"the file expands to more than "
                                    f"{MAX_CASES_PER_FILE:,} cases; this entry and the ones after it are not loaded"))
            break
        entry_cases, entry_errors = _never_raises(name, line, _load_entry, raw, index, defaults, name, line)
        errors += entry_errors
        for case in entry_cases:
            if case.id in seen:
                errors.append(CaseError(name, line, case.id, "id", f"duplicate id (first defined at line {seen[case.id]})"))
                continue
            seen[case.id] = line
            cases.append(case)
    return cases, errors


def _error_id(value: Any, index: int) -> str:
    """The id to name a case by in an error: its own if it is a valid id, else `cases[i]`."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return text if ID_PATTERN.match(text) and len(text) <= MAX_ID_LENGTH else f"cases[{index}]"


def _load_entry(raw: Any, index: int, defaults: dict, name: str, line: int) -> tuple[list[Case], list[CaseError]]:
    """One entry of `cases:` → its cases (several with `product:`) and an error per bad one."""
    if not isinstance(raw, dict):
        return [], [CaseError(name, line, None, f"cases[{index}]", "each case is a mapping of field → value")]
    raw_id = _error_id(raw.get("id"), index)
    try:
        expanded = expand(raw, dict(defaults))
    except ValueError as exc:
        field = getattr(exc, "field", "product")
        return [], [CaseError(name, getattr(raw, "key_lines", {}).get(field, line), raw_id, field, str(exc))]
    cases: list[Case] = []
    errors: list[CaseError] = []
    for fields, lines in expanded:
        case_id = _error_id(fields.get("id", raw_id), index)
        model = StackSpec if stack.is_stack(raw) else CaseSpec
        try:
            cases.append(_one_case(model, fields, raw, name, line))
        except ValidationError as exc:
            errors.append(_pydantic_error(exc, name, lines, line, case_id, model))
        except FieldError as exc:
            at = getattr(exc, "line", None) or lines.get(exc.field, line)
            errors.append(CaseError(name, at, case_id, exc.field, exc.message))
    return cases, errors


def _one_case(model: type[BaseModel], fields: dict, raw: dict, name: str, line: int):
    """One expanded entry → a Case, or a StackCase for an entry with `layers:`."""
    if model is StackSpec:
        spec = StackSpec.model_validate(stack.stack_fields(fields, raw.keys()))
        return stack.to_stack(spec, name, line, getattr(raw, "seq_lines", {}).get("layers", []))
    return to_case(CaseSpec.model_validate(native.merge(fields, raw.keys())), name, line)


def discover(paths: list[str | Path]) -> list[Path]:
    """Case files under the given files or folders (*.yaml / *.yml), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file())
        else:
            found.append(p)
    return found


def load_paths(paths: list[str | Path], stacks: bool = True) -> tuple[list[Case], list[CaseError]]:
    """Load every case file under the paths; errors never stop the other files. `stacks=False`
    leaves out the stack cases (a `layers:` entry: harness.stack.model.StackCase) for callers that
    take single cases only."""
    cases: list[Case] = []
    errors: list[CaseError] = []
    for path in discover(paths):
        c, e = load_file(path)
        cases += c if stacks else [case for case in c if isinstance(case, Case)]
        errors += e
    return cases, errors
