"""All Hypothesis strategies of the test suite, in one place."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import strategies as st

GOOD = {
    "id": "good",
    "op": "conv2d",
    "in_channels": 2,
    "out_channels": 4,
    "input_size": [6, 6],
    "kernel": 3,
}

FIELDS = ["op", "ndim", "batch", "in_channels", "out_channels", "input_size", "kernel", "stride",
          "dilation", "groups", "bias", "padding", "cover_all", "output_padding", "output_shape",
          "dtype", "frameworks", "layout", "tolerance", "inputs", "seed", "description", "refs",
          "xfail", "marks", "golden", "product"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 12), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["same", "valid", "same_lower", "full", "conv_transpose2d", "float32", "bfloat16"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)


@st.composite
def mutated_case(draw) -> dict:
    """A case that starts valid and gets a few fields replaced, dropped or added."""
    case = dict(GOOD, id=draw(st.from_regex(r"[a-z]{1,6}", fullmatch=True)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["set", "drop", "unknown"]))
        if action == "set":
            case[draw(st.sampled_from(FIELDS))] = draw(values)
        elif action == "drop":
            case.pop(draw(st.sampled_from(sorted(case))), None)
        else:
            case[draw(st.text(min_size=1, max_size=8))] = draw(values)
    return case


@st.composite
def case_file_text(draw) -> str:
    """YAML text of a file holding one valid case and several mutated ones."""
    cases = [dict(GOOD)] + draw(st.lists(mutated_case(), min_size=1, max_size=4))
    doc: dict = {"cases": cases}
    if draw(st.booleans()):
        doc["defaults"] = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=2))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


hostile_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from([
        "cases: !!python/object/apply:os.system ['echo pwned']",
        "!!python/name:os.system",
        "cases:\n  - &a [*a]",
        "cases: [{id: x, op: !!binary aGVsbG8=}]",
        "cases:\n  - id: x\n    kernel: 3\n  kernel: 4",
        "defaults: 3\ncases: []",
        "cases: {id: x}",
        "---\ncases: []\n---\ncases: []",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: [100000, 100000], kernel: 3}",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: [9, 9], kernel: 3, product: {stride: 3}}",
        "cases:\n  - {id: '{stride.x}', op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, product: {stride: [1]}}",
        "cases:\n  - {id: x, op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, frameworks: [caffe]}",
        "cases:\n  - {id: '{nope}', op: conv2d, in_channels: 1, out_channels: 1, input_size: 5, kernel: 3, product: {stride: [1]}}",
    ]),
)


@st.composite
def valid_transpose_spec(draw) -> dict:
    """A conv_transpose spec with an output_shape drawn from its documented valid range."""
    from harness import translate

    word = draw(st.sampled_from(["same", "valid", "same_lower", "full", None]))
    i, k, s, d = (draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    pad = draw(st.integers(0, 2)) if word is None else word
    lo = hi = pad if word is None else 0
    low, high = translate.transpose_length_range(word, i, k, s, d, lo, hi)
    if high < 1:
        low = high = None
    o = draw(st.integers(max(low, 1), high)) if low is not None and high >= max(low, 1) else None
    spec = {"id": "t", "op": "conv_transpose1d", "in_channels": 1, "out_channels": 1, "input_size": i,
            "kernel": k, "stride": s, "dilation": d, "padding": pad}
    if o is not None:
        spec["output_shape"] = o
    return spec


# ---------------------------------------------------------------------------------------------
# hostile mutations of the real library files (shared with scripts/fuzz_loader.py)

LIBRARY_FILES = sorted((Path(__file__).resolve().parents[1] / "cases").rglob("*.yaml"))
LIBRARY_TEXTS = [p.read_text(encoding="utf-8") for p in LIBRARY_FILES]

_CONTROL = [chr(c) for c in [*range(0, 32), *range(127, 160)]] + ["\ufffe", "\uffff", "\ud800", "\ufeff", "\u2028"]
_JUNK = list("[]{}:-&*!|>'\"#%@`,? \t\n") + ["\\", "\u00e9", "\u4e2d", "\U0001f600", "---", "...", "\r\n"]
_HUGE_NUMBERS = ["99999999999999999999999", "1.0e+400", "-1.0e+400", "1.0e400", ".nan", ".inf", "-.inf", "0x" + "f" * 39,
                 "1_000_000_000_000", "10000000000", "2147483648", "-2147483649", "1:" * 19 + "0", "0o777777777777",
                 "0b" + "1" * 38, "1e400", "-0", "9" * 41]
_SWAPPED_VALUES = ["[]", "{}", "null", "~", "true", "'text'", "[1, [2, [3]]]", "{a: 1}", "[[1, 2], [3]]", "!!binary aGk=",
                   "!!python/object/apply:os.system ['echo pwned']", "2024-13-45", "2024-01-01", "!!int abc",
                   "!!float x", "!!bool maybe", "!!timestamp x", "!!set {a, b}", "!!omap [a: 1]", "*nope", "&x", "|",
                   ">-", "SAME", "Same_Lower", "'{stride:>99999999}'", "'{'", "'{0}'", "'{stride.real}'", "'[/bold]'",
                   "'a\\x07b'", "\"\\ud800\"", "[_x]", "{factor: .inf, reason: r}", "{tensorflw: x}"]
_SWAPPED_KEYS = ["1", "true", "null", "~", "[a]", "{a: 1}", "? [a, b]", "kernal", "Kernel", "<<", "'<<'", "'\\x00'"]
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
_VALUE = re.compile(r"(?m)(:[ ]+)([^\n#]+)$")
_KEY = re.compile(r"(?m)^([ -]*)([A-Za-z_]+)(:)")


def _laughs(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _replace_match(text: str, pattern: re.Pattern, rng, make) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + make(m) + text[m.end():]


def _insert(text: str, rng, piece: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + piece + text[at:]


def _mutate_lines(text: str, rng, kind: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == "duplicate_line":
        lines.insert(i, lines[i])
    elif kind == "delete_line":
        del lines[i]
    elif kind == "indent":
        lines[i] = " " * rng.randrange(0, 9) + lines[i].lstrip(" ") if rng.random() < 0.5 else lines[i][1:]
    else:  # repeat_block: many copies of a stretch of lines (many cases, many duplicate ids)
        j = min(len(lines), i + rng.randrange(1, 12))
        lines[i:j] = lines[i:j] * rng.randrange(2, 300)
    return "\n".join(lines)


MUTATIONS = ["control", "junk", "truncate", "nest", "nest_closed", "laughs", "alias", "huge_number", "swap_value",
             "swap_key", "duplicate_line", "delete_line", "indent", "repeat_block", "product_bomb"]


def mutate(text: str, rng) -> str:
    """One hostile edit of a case file's text, chosen and placed by `rng` (a random.Random)."""
    kind = rng.choice(MUTATIONS)
    if kind == "control":
        return _insert(text, rng, rng.choice(_CONTROL))
    if kind == "junk":
        return _insert(text, rng, "".join(rng.choice(_JUNK) for _ in range(rng.randrange(1, 8))))
    if kind == "truncate":
        return text[: rng.randrange(len(text) + 1)]
    if kind in ("nest", "nest_closed"):
        depth = rng.choice([5, 31, 33, 200, 3000])
        nest = "[" * depth + ("]" * depth if kind == "nest_closed" else "")
        return _replace_match(text, _VALUE, rng, lambda m: m.group(1) + nest)
    if kind == "laughs":
        return _laughs(rng.randrange(2, 9), rng.randrange(2, 10)) + text
    if kind == "alias":
        piece = rng.choice(["&a [1, *a]", "*undefined", "&a 1", "&b {x: *b}", "[&c 1, *c, *c]", "{<<: *a}"])
        return _replace_match(text, _VALUE, rng, lambda m: m.group(1) + piece)
    if kind == "huge_number":
        return _replace_match(text, _NUMBER, rng, lambda m: rng.choice(_HUGE_NUMBERS))
    if kind == "swap_value":
        return _replace_match(text, _VALUE, rng, lambda m: m.group(1) + rng.choice(_SWAPPED_VALUES))
    if kind == "swap_key":
        return _replace_match(text, _KEY, rng, lambda m: m.group(1) + rng.choice(_SWAPPED_KEYS) + m.group(3))
    if kind == "product_bomb":
        lists = ", ".join(f"{k}: [{', '.join(map(str, range(1, rng.randrange(2, 40))))}]"
                          for k in ("stride", "dilation", "batch", "seed"))
        return _replace_match(text, re.compile(r"(?m)^(\s*)- id:"), rng,
                              lambda m: f"{m.group(1)}- product: {{{lists}}}\n{m.group(1)}  id:")
    return _mutate_lines(text, rng, kind)


def mutate_bytes(data: bytes, rng) -> bytes:
    """A byte-level edit on top: invalid UTF-8, byte-order marks, NULs, a cut through a character."""
    kind = rng.choice(["none", "invalid", "bom8", "bom16", "nul", "cut"])
    at = rng.randrange(len(data) + 1)
    piece = {"invalid": rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]), "nul": b"\x00"}
    if kind in piece:
        return data[:at] + piece[kind] + data[at:]
    if kind == "bom8":
        return b"\xef\xbb\xbf" + data
    if kind == "bom16":
        return b"\xff\xfe" + data.decode("utf-8", "replace").encode("utf-16-le")
    if kind == "cut":
        return data[:at]
    return data


def mutate_times(text: str, rng, times: int) -> str:
    """`times` hostile edits in a row."""
    for _ in range(times):
        text = mutate(text, rng)
    return text


def mutate_file_bytes(text: str, rng) -> bytes:
    return mutate_bytes(text.encode("utf-8", "surrogatepass"), rng)


mutated_library_text = st.builds(
    mutate_times, st.sampled_from(LIBRARY_TEXTS), st.randoms(use_true_random=False), st.integers(1, 3)
)
mutated_library_bytes = st.builds(mutate_file_bytes, mutated_library_text, st.randoms(use_true_random=False))
