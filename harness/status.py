"""The one status type of a result row: what happened to one quantity of one item."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A row's status. A `str` so that rows, JSON parts and Parquet files hold the plain word."""

    PASS = "pass"
    MISMATCH = "mismatch"  # computed, outside the bound
    SHAPE_MISMATCH = "shape_mismatch"  # computed, wrong shape
    ERROR = "error"  # the framework (or the harness on its behalf) raised
    UNSUPPORTED = "unsupported"  # the framework cannot express the case; the reason is in the row
    SKIPPED = "skipped"  # the framework is not installed here
    CRASH = "crash"  # the process running the item died

    __str__ = str.__str__  # "pass", not "Status.PASS" (str() of a str-mixin Enum before StrEnum)

    @property
    def failing(self) -> bool:
        """A result that says the framework is wrong (or could not answer): never silently passes."""
        return self in _FAILING

    @property
    def severity(self) -> int:
        """Order for summarising several rows into one: the worst status wins (skipped lowest)."""
        return _SEVERITY[self]

    @property
    def ran(self) -> bool:
        """The framework computed something that was compared (pass or mismatch)."""
        return self in (Status.PASS, Status.MISMATCH)

    @classmethod
    def of(cls, value: object) -> Status:
        """A status from a row's value (a Status or its word); unknown words raise ValueError."""
        return value if isinstance(value, cls) else cls(str(value))


_FAILING = frozenset({Status.MISMATCH, Status.SHAPE_MISMATCH, Status.ERROR, Status.CRASH})
_SEVERITY = {Status.SKIPPED: 0, Status.UNSUPPORTED: 1, Status.PASS: 2, Status.MISMATCH: 3,
             Status.SHAPE_MISMATCH: 4, Status.ERROR: 5, Status.CRASH: 6}

STATUSES: tuple[Status, ...] = tuple(Status)
FAILING: tuple[Status, ...] = tuple(s for s in Status if s.failing)
NOT_FAILING: tuple[Status, ...] = tuple(s for s in Status if not s.failing)
