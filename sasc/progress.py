"""Progress events from long library calls; the CLI draws bars, the server streams them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long call."""

    stage: str
    """``"ngrams"``, ``"responses"``, ``"summarize"``, ``"synthetic"``, ``"score"``."""
    done: int
    """Work items finished in this stage."""
    total: int
    """Work items in this stage (0 when unknown)."""
    detail: str = ""
    """Free text for humans, e.g. the unit being explained."""

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when total is unknown)."""
        return min(1.0, self.done / self.total) if self.total else 0.0


ProgressFn = Callable[[ProgressEvent], None]
"""A progress callback. It may raise :class:`sasc.errors.CancelledError` to stop the call."""


def no_progress(event: ProgressEvent) -> None:
    """The default callback: ignore events."""
