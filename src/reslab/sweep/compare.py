"""Each variant against `noshortcut` at the same other settings: the test metric as a difference, the final
training loss as a ratio (a difference of log-losses), paired by seed when both ran the same seeds, Holm-corrected
over every comparison of the summary, and for what stays unclear the seeds that would resolve it."""
import math
from dataclasses import dataclass

from reslab.sweep.curves import LOSS
from reslab.sweep.jobs import BASELINE, Group, Sweep
from reslab.sweep.stats import ALPHA, MAX_SEEDS, POWER, Difference, compare, holm, seeds_needed, verdict
from reslab.sweep.tables import Section


@dataclass
class Comparison:
    group: Group
    base: Group
    metric: Difference  # mean difference of the test metric (higher is better)
    loss: Difference  # mean difference of log final training loss (lower is better)
    seeds: str  # "3 paired", "3 vs 2 (Welch)"


def _difference(group: Group, base: Group, key: str, log: bool, higher: bool) -> tuple[Difference, str]:
    a, b = group.by_seed(key), base.by_seed(key)
    if log:
        a, b = ({s: math.log(v) for s, v in side.items() if v > 0} for side in (a, b))
    common = [seed for seed in a if seed in b]
    if len(common) >= 2:
        return compare([a[s] for s in common], [b[s] for s in common], higher, paired=True), f"{len(common)} paired"
    return compare(list(a.values()), list(b.values()), higher), f"{len(a)} vs {len(b)}"


def comparisons(sweep: Sweep) -> list[Comparison]:
    out = []
    for group in sweep.groups:
        base = sweep.baseline(group)
        if base is not None:
            metric, seeds = _difference(group, base, sweep.test_key, log=False, higher=True)
            loss, _ = _difference(group, base, LOSS, log=True, higher=False)
            out.append(Comparison(group, base, metric, loss, f"{seeds} (Welch)" if metric.test == "Welch" else seeds))
    return out


@dataclass(frozen=True)
class Judged:
    """A comparison after Holm's correction: the adjusted p-value, the verdict, the seeds needed."""

    diff: Difference
    p_holm: float
    verdict: str
    seeds_needed: str


def judge(diffs: list[tuple[Difference, bool]], alpha: float = ALPHA) -> list[Judged]:
    """Holm over all `(difference, higher_is_better)`; "seeds needed" (80 % power, two-sided, at alpha / m, the
    strictest level Holm applies among m comparisons) for each comparison that is not clear."""
    adjusted = holm([d.p for d, _ in diffs])
    m = sum(math.isfinite(p) for p in adjusted)
    out = []
    for (diff, higher), p in zip(diffs, adjusted):
        if not math.isfinite(p):
            out.append(Judged(diff, p, diff.verdict, "–"))
            continue
        word = verdict(diff.mean, p, higher, alpha)
        needed = ""
        if word == "no clear difference":
            n = seeds_needed(diff.effect, alpha / max(m, 1), POWER, diff.paired, limit=MAX_SEEDS - 1)
            needed = str(n) if n is not None else f"effect too small to resolve with < {MAX_SEEDS} seeds"
        out.append(Judged(diff, p, word, needed))
    return out


def _p(raw: float, adjusted: float) -> str:
    if not math.isfinite(raw):
        return "–"
    def fmt(p):
        return "< 0.001" if p < 0.001 else f"{p:.2g}"
    return f"{fmt(raw)} → {fmt(adjusted)}"


def _interval(diff: Difference, ratio: bool) -> str:
    if not math.isfinite(diff.mean):
        return "–"
    show = (lambda x: f"×{math.exp(x):.3g}") if ratio else (lambda x: f"{x:+.3g}")
    if not math.isfinite(diff.low):
        return show(diff.mean)
    return f"{show(diff.mean)} [{show(diff.low)}, {show(diff.high)}]"


def comparison_section(sweep: Sweep) -> Section | None:
    comps = comparisons(sweep)
    if not comps:
        return None
    judged = judge([d for c in comps for d in ((c.metric, True), (c.loss, False))])
    m = sum(math.isfinite(j.p_holm) for j in judged)
    rows = []
    for i, c in enumerate(comps):
        metric, loss = judged[2 * i], judged[2 * i + 1]
        rows.append([sweep.label(c.group), c.seeds,
                     _interval(c.metric, False), _p(c.metric.p, metric.p_holm), metric.verdict, metric.seeds_needed,
                     _interval(c.loss, True), _p(c.loss.p, loss.p_holm), loss.verdict, loss.seeds_needed])
    test = sweep.test_key
    header = ["variant", "seeds", f"Δ {test} [95 % CI]", f"p → Holm (m={m})", "verdict", "seeds needed",
              "train/loss ratio [95 % CI]", f"p → Holm (m={m})", "verdict", "seeds needed"]
    text = [f"Each variant against `{BASELINE}` at the same other settings: the difference of the mean {test} "
            "(higher is better) and the ratio of the final training losses (the difference of log-losses: lower "
            "is better), with 95 % confidence intervals. Seeds run by both are *paired* (same seed, same data "
            "order: the seed-to-seed spread cancels); otherwise Welch's t. The p-values are two-sided and "
            f"Holm-corrected over all m = {m} comparisons of this summary (raw → corrected); the verdict is "
            "\"better\"/\"worse\" when the corrected p < 0.05, else \"no clear difference\" (the intervals are not "
            "corrected). \"seeds needed\": seeds per setting that would resolve the observed effect with 80 % "
            f"power at α = 0.05/m (the strictest Holm step), by the noncentral t; more than {MAX_SEEDS - 1} reads "
            "\"effect too small to resolve\"."]
    if m == 0:
        text = [text[0].split(" The p-values")[0] + " No comparison has two seeds on each side: no p-values, no "
                "verdicts (add seeds, e.g. `seed=0,1,2`)."]
    return Section(f"Against `{BASELINE}`", text, header, rows)
