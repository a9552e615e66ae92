"""Is a difference between two variants real, given a few seeds each? Welch's t interval and a verdict in words."""
import math
import statistics
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its confidence interval (NaN when it cannot be computed) and a verdict."""

    mean: float
    low: float
    high: float
    verdict: str  # "better" | "worse" | "no clear difference" | "one seed: run more" | "no runs"


def compare(a: list[float], b: list[float], higher_is_better: bool = True, level: float = LEVEL) -> Difference:
    """How `a` compares with `b` (the baseline): Welch's t interval of the difference of means.

    Welch's test does not assume equal variances, which matters when one variant is erratic across seeds
    (a net without shortcuts) and the other is not. "better" means the whole interval lies on the good side of 0.
    """
    a, b = [x for x in a if math.isfinite(x)], [x for x in b if math.isfinite(x)]
    if not a or not b:
        return Difference(math.nan, math.nan, math.nan, "no runs")
    mean = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Difference(mean, math.nan, math.nan, "one seed: run more")
    low, high = _welch_interval(a, b, mean, level)
    if low > 0 or high < 0:
        good = (low > 0) == higher_is_better
        return Difference(mean, low, high, "better" if good else "worse")
    return Difference(mean, low, high, "no clear difference")


def _welch_interval(a: list[float], b: list[float], mean: float, level: float) -> tuple[float, float]:
    from scipy.stats import ttest_ind

    if statistics.variance(a) + statistics.variance(b) == 0:  # every seed agrees on both sides: exact difference
        return mean, mean
    interval = ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return float(interval.low), float(interval.high)
