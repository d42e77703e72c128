"""What a scenario reports: one line of figures, the target, and whether it was met."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Size(StrEnum):
    """``smoke``: tiny sizes so the test suite runs the code; ``full``: the issue's sizes."""

    SMOKE = "smoke"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class Result:
    """One scenario's outcome. ``met`` is None when there is no target (the baseline)."""

    scenario: str
    figures: str
    target: str = ""
    met: bool | None = None

    def line(self) -> str:
        verdict = {None: "", True: "  [target met]", False: "  [target NOT met]"}[self.met]
        target = f"  (target: {self.target})" if self.target else ""
        return f"{self.scenario:<28} {self.figures}{target}{verdict}"


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
