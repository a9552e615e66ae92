"""Is a difference between two settings real, given a few seeds each?

- `t_interval`: mean and 95 % t-interval over seeds (the tables, curves.csv); `log_interval` the same on the log
  scale for positive quantities (geometric mean; losses, epochs, seconds); `clip` keeps an interval in its
  quantity's range (accuracy in [0, 1], epochs >= 1). `spread`: the seeds themselves (mean, min, max: the figures).
- `compare`: difference of two settings, *paired* by seed when they share seeds (same seed = same initial weights
  and data order: the seed-to-seed spread cancels) or Welch's t when they do not; an interval, a p-value, a verdict.
- `holm`: Holm's step-down correction of the p-values of all comparisons of one summary (family-wise error 5 %).
- `seeds_needed`: seeds per setting for 80 % power at the observed standardised effect (noncentral t, two-sided;
  Cohen 1988, ch. 2: power = P(|T'| > t_crit), T' ~ nct(df, delta), delta = d sqrt(n) paired, d sqrt(n/2) two-sample).
"""
import math
import statistics
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95
ALPHA = 1 - LEVEL
POWER = 0.8
MAX_SEEDS = 20  # "seeds needed" beyond this reads "effect too small to resolve with < 20 seeds"
VERDICTS = ("better", "worse", "no clear difference", "one seed: run more", "no runs")


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def t_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the two-sided t confidence interval of the mean; NaN bounds for fewer than 2 values."""
    values = _finite(values)
    if not values:
        return math.nan, math.nan, math.nan
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def log_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """`t_interval` of the logarithms, mapped back: geometric mean and a band that stays positive (losses)."""
    logs = [math.log(v) for v in _finite(values) if v > 0]
    mean, low, high = t_interval(logs, level)
    return tuple(math.exp(x) if math.isfinite(x) else math.nan for x in (mean, low, high))


def clip(interval: tuple[float, float, float], low: float = -math.inf, high: float = math.inf):
    """`interval` with its bounds moved into [low, high] (NaN bounds stay NaN): a t-interval of an accuracy over
    two seeds reaches past 1, and the true mean cannot; clipping keeps the coverage and drops impossible values."""
    mean, lo, hi = interval
    return mean, (min(max(lo, low), high) if math.isfinite(lo) else lo), (max(min(hi, high), low)
                                                                          if math.isfinite(hi) else hi)


def spread(values, geometric: bool = False) -> tuple[float, float, float]:
    """(mean, min, max) of the finite values: what the seeds did (the figures' bands and bars). `geometric`: the
    mean of the logarithms mapped back (positive values only: losses). NaN for no values."""
    values = [v for v in _finite(values) if v > 0 or not geometric]
    if not values:
        return math.nan, math.nan, math.nan
    mean = math.exp(statistics.fmean(math.log(v) for v in values)) if geometric else statistics.fmean(values)
    return mean, min(values), max(values)


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its confidence interval, two-sided p-value and verdict (NaN where not computable)."""

    mean: float
    low: float
    high: float
    verdict: str  # one of VERDICTS
    p: float = math.nan
    test: str = ""  # "paired" | "Welch" | ""
    n: int = 0  # pairs (paired) or the smaller side (Welch)
    effect: float = math.nan  # standardised: mean / sd of the differences (paired), / pooled sd (Welch)

    @property
    def paired(self) -> bool:
        return self.test == "paired"


def verdict(mean: float, p: float, higher_is_better: bool, alpha: float = ALPHA) -> str:
    """"better"/"worse" when p < alpha (the interval at level 1 - alpha excludes 0), else "no clear difference"."""
    if not (p < alpha):
        return "no clear difference"
    return "better" if (mean > 0) == higher_is_better else "worse"


def compare(a, b, higher_is_better: bool = True, level: float = LEVEL, paired: bool = False) -> Difference:
    """How `a` compares with `b` (the baseline). `paired`: a[i] and b[i] come from the same seed (a paired t-test
    on the differences); else Welch's t, which does not assume that both vary alike across seeds (a net without
    shortcuts is more erratic). "better" means the whole interval lies on the good side of 0."""
    if paired:
        pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
        a, b = [x for x, _ in pairs], [y for _, y in pairs]
    a, b = _finite(a), _finite(b)
    if not a or not b:
        return Difference(math.nan, math.nan, math.nan, "no runs")
    mean = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Difference(mean, math.nan, math.nan, "one seed: run more", n=min(len(a), len(b)))
    if paired:
        diffs = [x - y for x, y in zip(a, b)]
        sd, df, n = statistics.stdev(diffs), len(diffs) - 1, len(diffs)
        se = sd / math.sqrt(n)
        p = float(stats.ttest_rel(a, b).pvalue) if sd > 0 else (0.0 if mean else 1.0)
    else:
        va, vb = statistics.variance(a), statistics.variance(b)
        sd, n = math.sqrt((va + vb) / 2), min(len(a), len(b))
        se = math.sqrt(va / len(a) + vb / len(b))
        df = se ** 4 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1)) if se else 1
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue) if se > 0 else (0.0 if mean else 1.0)
    half = stats.t.ppf((1 + level) / 2, df) * se if se > 0 else 0.0  # no spread: the difference is exact
    effect = mean / sd if sd > 0 else (math.inf if mean else 0.0)
    return Difference(mean, mean - half, mean + half, verdict(mean, p, higher_is_better, 1 - level), p,
                      "paired" if paired else "Welch", n, effect)


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values, in the given order: sort ascending, multiply the i-th smallest (0-based) by
    m - i, carry the running maximum, cap at 1. NaN entries pass through and do not count in m."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None and math.isfinite(p))
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


def power(effect: float, n: int, alpha: float = ALPHA, paired: bool = True) -> float:
    """Power of the two-sided t-test at standardised effect `effect` with `n` seeds per setting."""
    df = n - 1 if paired else 2 * n - 2
    if df < 1:
        return 0.0
    delta = abs(effect) * math.sqrt(n if paired else n / 2)
    critical = stats.t.ppf(1 - alpha / 2, df)
    value = float(stats.nct.sf(critical, df, delta) + stats.nct.cdf(-critical, df, delta))
    if math.isnan(value):  # scipy's nct fails far in the tail (large delta): the normal limit is exact enough there
        value = float(stats.norm.sf(critical - delta) + stats.norm.cdf(-critical - delta))
    return value


def seeds_needed(effect: float, alpha: float = ALPHA, target: float = POWER, paired: bool = True,
                 limit: int = 10_000) -> int | None:
    """The fewest seeds per setting (>= 2) whose test reaches `target` power at `effect`; None beyond `limit`."""
    if not math.isfinite(effect) or effect == 0:
        return 2 if math.isinf(effect) else None
    high = 2  # power grows with n: double until it reaches the target, then bisect
    while power(effect, high, alpha, paired) < target:
        if high >= limit:
            return None
        high = min(2 * high, limit)
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power(effect, middle, alpha, paired) >= target else (middle, high)
    return max(high, 2)

