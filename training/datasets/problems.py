"""Everything wrong with a dataset, collected so that one error lists it all before training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.errors import DatasetInvalid

EXAMPLES = 20  # items shown under one problem before "... and N more"


class Problems:
    """The problems found in the dataset at `root`, in the order found."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.lines)

    def add(self, problem: str) -> None:
        self.lines.append(problem)

    def add_all(self, summary: str, items: Sequence[str], limit: int | None = EXAMPLES) -> None:
        """One problem with many offending items (files, rows), listed under it; past `limit`
        items, the count of the others (None: list every one)."""
        shown = items if limit is None else items[:limit]
        more = [f"... and {len(items) - len(shown)} more"] if len(items) > len(shown) else []
        self.lines.append("\n".join([summary, *(f"      {item}" for item in [*shown, *more])]))

    def raise_if_any(self) -> None:
        """DatasetInvalid listing every problem, if there is one."""
        if not self.lines:
            return
        count = f"{len(self.lines)} problem{'s' if len(self.lines) > 1 else ''}"
        listed = "\n".join(f"  - {line}" for line in self.lines)
        raise DatasetInvalid(f"{self.root}: {count}; nothing was trained:\n{listed}")
