"""The sweep's statistics on inputs whose answers are known: t-intervals, Welch and paired comparisons, Holm's
correction, and the seeds needed for 80 % power against textbook values."""
import math
import statistics

import pytest
from scipy import stats

from reslab.sweep.compare import judge
from reslab.sweep.stats import compare, holm, log_interval, power, seeds_needed, t_interval

T_975_2 = 4.302652729911275  # t quantile 0.975 at 2 degrees of freedom (any t table: 4.303)


def test_t_interval_of_three_seeds_is_the_textbook_one():
    values = [0.90, 0.92, 0.97]
    mean, sd = 0.93, math.sqrt(((0.03) ** 2 + (0.01) ** 2 + (0.04) ** 2) / 2)  # by hand: 0.036056
    assert t_interval(values) == pytest.approx((mean, mean - T_975_2 * sd / math.sqrt(3),
                                                mean + T_975_2 * sd / math.sqrt(3)))
    assert t_interval([0.5])[0] == 0.5 and math.isnan(t_interval([0.5])[1])
    # losses: geometric mean, and the interval of the log-losses mapped back (positive on a log axis)
    geo, low, high = log_interval([1e-4, 1e-3, 1e-2])
    assert geo == pytest.approx(1e-3) and 0 < low < geo < high
    assert math.log(high) - math.log(geo) == pytest.approx(T_975_2 * math.log(10) / math.sqrt(3))


def test_welch_interval_on_a_known_sample():
    # means 0.92 and 0.85, variances 4e-4 and 2.5e-3, n = 3 each: Welch dof 2.624, t(0.975) * se = 0.10747
    diff = compare([0.90, 0.92, 0.94], [0.80, 0.85, 0.90])
    assert diff.mean == pytest.approx(0.07) and diff.test == "Welch"
    assert (diff.low, diff.high) == pytest.approx((0.07 - 0.10747, 0.07 + 0.10747), abs=1e-4)
    assert diff.p == pytest.approx(stats.ttest_ind([0.90, 0.92, 0.94], [0.80, 0.85, 0.90], equal_var=False).pvalue)
    assert diff.verdict == "no clear difference"
    assert compare([0.95, 0.96, 0.97], [0.80, 0.81, 0.82]).verdict == "better"
    assert compare([0.5, 0.6], [0.1, 0.2], higher_is_better=False).verdict == "worse"  # a higher loss
    assert compare([0.9], [0.8, 0.7]).verdict == "one seed: run more"
    assert compare([0.9, 0.9], [0.8, 0.8]).low == pytest.approx(0.1)  # no spread: the difference is exact


def test_pairing_by_seed_detects_a_consistent_one_percent_that_welch_misses():
    base = [0.90, 0.95, 0.85]  # the seeds differ by 5 %: that spread swamps Welch's test
    variant = [0.911, 0.959, 0.860]  # +1 % on every seed (+1.1, +0.9, +1.0)
    welch, paired = compare(variant, base), compare(variant, base, paired=True)
    assert welch.verdict == "no clear difference" and welch.low < 0 < welch.high
    assert paired.verdict == "better" and paired.test == "paired" and paired.low > 0
    diffs = [v - b for v, b in zip(variant, base)]  # by hand: mean 0.01, sd 0.001
    half = T_975_2 * statistics.stdev(diffs) / math.sqrt(3)
    assert (paired.mean, paired.low, paired.high) == pytest.approx((0.01, 0.01 - half, 0.01 + half))
    assert paired.p == pytest.approx(stats.ttest_rel(variant, base).pvalue)


def test_holm_on_a_known_list():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.5, math.nan, 0.01])  # NaN (a one-seed comparison) passes through and does not count
    assert adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert holm([0.04, 0.03]) == pytest.approx([0.06, 0.06])  # 0.04 * 1 < 0.03 * 2: the running maximum
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_verdicts_follow_holm_and_unclear_ones_get_seeds_needed():
    clear = compare([0.911, 0.959, 0.860], [0.90, 0.95, 0.85], paired=True)  # p = 0.0033
    weak = compare([0.93, 0.92, 0.97], [0.90, 0.93, 0.95], paired=True)
    alone = judge([(clear, True)])
    assert alone[0].verdict == "better" and alone[0].seeds_needed == ""
    many = judge([(clear, True)] + [(weak, True)] * 5)  # 6 comparisons: 6 * 0.0033 = 0.02 still < 0.05
    assert many[0].verdict == "better" and many[0].p_holm == pytest.approx(6 * clear.p)
    assert many[1].verdict == "no clear difference"
    expected = seeds_needed(weak.effect, 0.05 / 6, paired=True)
    assert many[1].seeds_needed == (str(expected) if expected < 20 else
                                    "effect too small to resolve with < 20 seeds")
    tiny = compare([0.901, 0.95, 0.851], [0.90, 0.951, 0.85], paired=True)
    assert judge([(tiny, True)])[0].seeds_needed == "effect too small to resolve with < 20 seeds"


@pytest.mark.parametrize("effect, paired, textbook", [
    (0.5, False, 64),  # Cohen (1992), "A power primer", Table 2: medium effect, two-sided 5 %, power 0.80
    (0.8, False, 26),  # ... large effect
    (1.0, True, 10),  # paired t-test, d_z = 1 (G*Power: total sample size 10, actual power 0.803)
])
def test_seeds_needed_matches_textbook_power(effect, paired, textbook):
    n = seeds_needed(effect, alpha=0.05, paired=paired)
    assert n == textbook

    def nct_power(k):  # computed here independently: P(|T'| > t_crit), T' noncentral t
        df = k - 1 if paired else 2 * k - 2
        delta = effect * math.sqrt(k if paired else k / 2)
        crit = stats.t.ppf(0.975, df)
        return stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta)

    assert nct_power(n) >= 0.8 > nct_power(n - 1)
    assert power(effect, n, paired=paired) == pytest.approx(nct_power(n))
    assert seeds_needed(effect, paired=paired, limit=n - 1) is None
