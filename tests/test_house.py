"""The house rules of harness/ as tests that can fail (STYLE.md, DESIGN.md).

- functions fit on a screen: none longer than MAX_LINES lines;
- no import cycles between harness modules, lazy function-level imports included;
- pure translation modules (translate.py, adapters/*_padding.py and *_native.py, the stack's model) import no framework;
- status words are spelled through harness.status.Status, never as string literals.

Each rule is a checker over source text, run on every file of harness/ and, in a test of its own,
on a small synthetic snippet that breaks the rule, so that a checker that flags nothing is caught.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
MAX_LINES = 60
FRAMEWORKS = frozenset({"torch", "tensorflow", "jax", "jaxlib", "onnx", "onnxruntime", "keras", "chainer", "flax",
                        "openvino", "mlx", "ai_edge_litert", "tinygrad", "paddle", "tvm", "mindspore"})
STATUS_WORDS = frozenset({"pass", "mismatch", "shape_mismatch", "error", "unsupported", "skipped", "crash"})


def harness_files() -> list[Path]:
    return sorted(HARNESS.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    """harness/adapters/base.py → harness.adapters.base; a package's __init__.py → the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# ---------------------------------------------------------------------------------------------
# Function length


def long_functions(source: str, path: str, limit: int = MAX_LINES) -> list[str]:
    """`path:line name (N lines)` for every function or method longer than `limit` lines (def to last line)."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = child.end_lineno - child.lineno + 1
                    if length > limit:
                        found.append(f"{path}:{child.lineno} {name} ({length} lines)")
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_long_function_checker_flags_61_lines():
    body = "".join(f"        x{n} = {n}\n" for n in range(59))
    source = f"def short():\n    return 1\n\n\nclass C:\n    def long(self):\n{body}        return 0\n"
    assert long_functions(source, "m.py") == ["m.py:6 C.long (61 lines)"]
    assert long_functions(source.replace("        x0 = 0\n", ""), "m.py") == []  # 60 lines is allowed


def test_no_function_longer_than_60_lines():
    offenders = [line for path in harness_files() for line in long_functions(path.read_text(), relative(path))]
    assert not offenders, "functions longer than 60 lines:\n" + "\n".join(offenders)


# ---------------------------------------------------------------------------------------------
# Import cycles


def imported_modules(source: str, module: str, is_package: bool, known: frozenset[str]) -> set[str]:
    """The modules of `known` that `module` imports anywhere (module level or inside functions).

    `from pkg import name` is an edge to pkg.name when that is a module, else to pkg. The implicit
    import of parent packages (importing a.b.c runs a/__init__ and a/b/__init__) is not an edge.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(filter(None, [base, node.module or ""]))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # import a.b.c where only a.b is ours → a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(sources: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module → the modules it imports, from {module: (source, is_package)}."""
    known = frozenset(sources)
    return {m: imported_modules(src, m, is_pkg, known) for m, (src, is_pkg) in sources.items()}


def shortest_cycle(graph: Mapping[str, set[str]], start: str) -> list[str] | None:
    """The shortest chain start → ... → start, or None."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return [start, *reversed(chain[:-1]), start] if node != start else [start, start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def import_cycles(graph: Mapping[str, set[str]]) -> list[str]:
    """The shortest cycle through each module, as a chain `a -> b -> a` from its smallest name; shortest first."""
    cycles = {}
    for module in sorted(graph):
        chain = shortest_cycle(graph, module)
        if chain:
            ring = chain[:-1]
            first = ring.index(min(ring))  # the same cycle found from another module reads the same
            ring = ring[first:] + ring[:first]
            cycles.setdefault(tuple(ring), " -> ".join([*ring, ring[0]]))
    return sorted(cycles.values(), key=lambda c: (c.count("->"), c))


def harness_import_graph() -> dict[str, set[str]]:
    return import_graph({module_name(p): (p.read_text(), p.name == "__init__.py") for p in harness_files()})


def test_cycle_checker_flags_a_two_module_cycle():
    graph = import_graph({
        "pkg": ("", True),
        "pkg.a": ("from pkg import b\n", False),
        "pkg.b": ("def lazy():\n    from .a import thing\n", False),  # a function-level import still counts
        "pkg.c": ("import pkg.a\nfrom pkg.a import x\n", False),
    })
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert import_cycles(graph) == ["pkg.a -> pkg.b -> pkg.a"]


def test_cycle_checker_resolves_relative_and_package_imports():
    graph = import_graph({
        "pkg": ("from pkg.sub import mod\n", True),
        "pkg.sub": ("from .. import top\nfrom . import mod, helper_function\n", True),
        "pkg.sub.mod": ("from ..top import f\nimport os\n", False),
        "pkg.top": ("from pkg import sub\n", False),
    })
    assert graph == {"pkg": {"pkg.sub.mod"}, "pkg.sub": {"pkg.top", "pkg.sub.mod"},
                     "pkg.sub.mod": {"pkg.top"}, "pkg.top": {"pkg.sub"}}
    assert import_cycles(graph) == ["pkg.sub -> pkg.top -> pkg.sub", "pkg.sub -> pkg.sub.mod -> pkg.top -> pkg.sub"]


def test_import_graph_sees_the_harness():
    graph = harness_import_graph()
    assert "harness.translate" in graph["harness.case"]
    assert "harness.adapters.base" in graph["harness.adapters.tf_padding"]
    assert graph["harness.translate"] == set()


def test_no_import_cycles():
    cycles = import_cycles(harness_import_graph())
    assert not cycles, "import cycles between harness modules:\n" + "\n".join(cycles)


# ---------------------------------------------------------------------------------------------
# Pure translation modules import no framework


PURE_MODULES = ["harness/translate.py", "harness/adapters/program.py", "harness/adapters/native_call.py",
                *sorted(relative(p) for pattern in ("*_padding.py", "*_native.py")
                        for p in (HARNESS / "adapters").glob(pattern)),
                "harness/stack/model.py", "harness/stack/spec.py"]


def framework_imports(source: str, frameworks: frozenset[str] = FRAMEWORKS) -> set[str]:
    """The frameworks a source imports anywhere in it (absolute imports, by top-level name)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found & frameworks


def modules_loaded_by(module: str, names: frozenset[str], cwd: Path) -> set[str]:
    """Which of `names` sit in sys.modules after a fresh interpreter imports `module`."""
    code = f"import importlib, sys; importlib.import_module({module!r}); print(' '.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name.split(".")[0] for name in proc.stdout.split()} & names


def test_framework_checkers_flag_a_framework_import(tmp_path):
    source = "import numpy\nimport torch.nn\n\ndef lazy():\n    from jax import lax\n    from .base import x\n"
    assert framework_imports(source) == {"torch", "jax"}
    assert framework_imports("import numpy as np\nfrom harness import translate\n") == set()
    (tmp_path / "torch").mkdir()  # a stand-in: the check must not depend on the real torch
    (tmp_path / "torch" / "__init__.py").write_text("")
    (tmp_path / "fake_padding.py").write_text("def lazy():\n    return 1\n\nimport torch\n")
    (tmp_path / "clean_padding.py").write_text("import math\n")
    assert modules_loaded_by("fake_padding", FRAMEWORKS, tmp_path) == {"torch"}
    assert modules_loaded_by("clean_padding", FRAMEWORKS, tmp_path) == set()


def test_pure_modules_exist():
    assert {"harness/translate.py", "harness/adapters/tf_padding.py", "harness/adapters/jax_padding.py",
            "harness/adapters/onnx_padding.py", "harness/adapters/chainer_padding.py",
            "harness/adapters/torch_padding.py", "harness/adapters/keras_padding.py",
            "harness/adapters/program.py"} <= set(PURE_MODULES)


REQUIRED = ("LIBRARY", "PATHS", "DTYPES", "available", "version", "environment", "plan", "run")


def contract_problems(source: str) -> list[str]:
    """What an adapter module's source breaks of the contract base.py documents, by AST (no framework
    import): a required name missing, or a hook spelt unlike base.DEFAULTS (it would silently fall
    back to its default)."""
    from harness.adapters import base

    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    problems = [f"lacks {n}" for n in REQUIRED if n not in names]
    lowered = {k.lower() for k in base.DEFAULTS}
    problems += [f"hook {n!r} is not spelt as in base.DEFAULTS" for n in sorted(names)
                 if n.lower() in lowered and n not in base.DEFAULTS]
    problems += [f"{n!r} looks like a misspelt hook" for n in ("GRADIENT", "FORWARD_ONLY") if n in names]
    return problems


@pytest.mark.parametrize("module", sorted({m for m, _ in __import__("harness.adapters").adapters.REGISTRY.values()}))
def test_every_adapter_module_follows_the_contract(module):
    path = HARNESS.parent / (module.replace(".", "/") + ".py")
    problems = contract_problems(path.read_text())
    assert not problems, f"{module}: {problems}"


def test_contract_checker_flags_a_missing_name_and_a_misspelt_hook():
    good = "LIBRARY = 'x'\nPATHS = ('p',)\nDTYPES = ()\n" + "".join(
        f"def {n}():\n    pass\n" for n in ("available", "version", "environment", "plan", "run"))
    assert contract_problems(good) == []
    bad = good.replace("DTYPES = ()\n", "") + "gradients = False\nGRADIENT = False\n"
    assert contract_problems(bad) == ["lacks DTYPES", "hook 'gradients' is not spelt as in base.DEFAULTS",
                                      "'GRADIENT' looks like a misspelt hook"]


def _closure(graph: Mapping[str, set[str]], module: str) -> set[str]:
    """`module`, every harness module it imports transitively, and the packages these run on import."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parents = [m.rsplit(".", n)[0] for n in range(1, m.count(".") + 1)]
        todo.extend([*graph.get(m, ()), *parents])
    return seen


@pytest.mark.parametrize("path", PURE_MODULES)
def test_pure_module_imports_no_framework_by_ast(path):
    graph = harness_import_graph()
    found = {}
    for module in sorted(_closure(graph, module_name(ROOT / path))):
        file = HARNESS.parent / (module.replace(".", "/") + ".py")
        file = file if file.exists() else file.with_suffix("") / "__init__.py"
        if hits := framework_imports(file.read_text()):
            found[relative(file)] = sorted(hits)
    assert not found, f"{path} imports frameworks (directly or through these harness modules): {found}"


@pytest.mark.parametrize("path", PURE_MODULES)
def test_pure_module_imports_no_framework_at_run_time(path):
    assert modules_loaded_by(module_name(ROOT / path), FRAMEWORKS, ROOT) == set()


# ---------------------------------------------------------------------------------------------
# Status words only through harness.status


def _status_words(node: ast.AST) -> Iterator[str]:
    """The status words a comparison operand spells: a string constant, or one inside a tuple/set/list."""
    if isinstance(node, (ast.Tuple, ast.Set, ast.List)):
        items = node.elts
    elif isinstance(node, ast.IfExp):  # "pass" if ok else "mismatch"
        items = [node.body, node.orelse]
    elif isinstance(node, ast.BoolOp):  # status or "error"
        items = node.values
    else:
        items = [node]
    for item in items:
        if isinstance(item, ast.Constant) and item.value in STATUS_WORDS:
            yield item.value
        elif isinstance(item, (ast.IfExp, ast.BoolOp)):
            yield from _status_words(item)


def _names_status(target: ast.AST) -> bool:
    """status, row.status, row["status"], self._status ..."""
    if isinstance(target, ast.Name):
        return target.id.lower().endswith("status")
    if isinstance(target, ast.Attribute):
        return target.attr.lower().endswith("status")
    if isinstance(target, ast.Subscript):
        return isinstance(target.slice, ast.Constant) and target.slice.value == "status"
    return False


def _status_literals_in(node: ast.AST) -> Iterator[tuple[int, str]]:
    if isinstance(node, ast.Compare):
        for left, right in zip([node.left, *node.comparators], node.comparators):
            for word in [*_status_words(left), *_status_words(right)]:
                yield node.lineno, f"compared with {word!r}"
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "status":
                for word in _status_words(value):
                    yield value.lineno, f'"status": {word!r}'
    elif isinstance(node, ast.keyword) and node.arg and node.arg.lower().endswith("status"):
        for word in _status_words(node.value):
            yield node.value.lineno, f"{node.arg}={word!r}"
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(_names_status(t) for t in targets):
            for word in _status_words(node.value):
                yield node.lineno, f"status assigned {word!r}"
    elif isinstance(node, ast.MatchValue):
        for word in _status_words(node.value):
            yield node.lineno, f"case {word!r}"


def status_literals(source: str, path: str) -> list[str]:
    """`path:line what` for every status word compared against or assigned to a status as a string literal."""
    found = {(line, what) for node in ast.walk(ast.parse(source)) for line, what in _status_literals_in(node)}
    return [f"{path}:{line} {what}" for line, what in sorted(found)]


def test_status_checker_flags_literals():
    source = (
        'def f(row, rows):\n'
        '    if row["status"] == "pass":\n'  # 2
        '        return 1\n'
        '    if row.status in ("error", "crash"):\n'  # 4
        '        return 2\n'
        '    rows.append({"status": "unsupported", "reason": "x"})\n'  # 6
        '    rows.append(dict(status="skipped"))\n'  # 7
        '    row["status"] = "mismatch" if row else "error"\n'  # 8
        '    match row.status:\n'
        '        case "shape_mismatch":\n'  # 10
        '            pass\n'
    )
    assert status_literals(source, "m.py") == [
        "m.py:2 compared with 'pass'",
        "m.py:4 compared with 'crash'",
        "m.py:4 compared with 'error'",
        "m.py:6 \"status\": 'unsupported'",
        "m.py:7 status='skipped'",
        "m.py:8 status assigned 'error'",
        "m.py:8 status assigned 'mismatch'",
        "m.py:10 case 'shape_mismatch'",
    ]


def test_status_checker_ignores_other_uses_of_the_words():
    source = (
        'COLOURS = {"pass": "green", "error": "red"}\n'  # dictionary keys
        'row = {"expression": "unsupported" if x else "native", "status": Status.PASS}\n'
        'if row["status"] == Status.ERROR or kind == "native":\n'
        '    message = "error"\n'
        'print("pass", level="error")\n'
    )
    assert status_literals(source, "m.py") == []


def test_no_status_string_literals():
    offenders = [line for path in harness_files() if path.name != "status.py"
                 for line in status_literals(path.read_text(), relative(path))]
    assert not offenders, "status words as string literals (use harness.status.Status):\n" + "\n".join(offenders)
