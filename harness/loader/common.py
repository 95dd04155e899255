"""What the loader's parts share: the field error they raise, and the wording of their messages."""

from __future__ import annotations

import difflib
import reprlib
from typing import Any


class FieldError(ValueError):
    """A case field that cannot be accepted; the loader adds file, line and case id."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(message)


def did_you_mean(word: Any, choices: list[str] | tuple[str, ...]) -> str:
    """' did you mean 'kernel'?' for the choice nearest to a misspelt word, or ''."""
    by_lower = {c.lower(): c for c in choices}
    best = difflib.get_close_matches(str(word).lower()[:100], list(by_lower), n=1, cutoff=0.6)
    return f" did you mean {by_lower[best[0]]!r}?" if best else ""


class _Short(reprlib.Repr):
    """repr() cut to a few dozen characters, for values quoted in messages."""

    def __init__(self):
        super().__init__()
        self.maxstring, self.maxother, self.maxlist, self.maxdict, self.maxlevel = 60, 60, 6, 4, 3

    repr__LineDict = reprlib.Repr.repr_dict  # the YAML loader's mappings (a dict subclass) as dicts


short_repr = _Short().repr
