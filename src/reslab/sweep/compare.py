"""Each variant against `noshortcut` at the same other settings: the test metric as a difference, the final
training loss as a ratio (a difference of log-losses), paired by seed when both ran the same seeds, Holm-corrected
over every comparison of the summary, and for what stays unclear the seeds that would resolve it."""
import math
import statistics
from dataclasses import dataclass, replace

from reslab.sweep.curves import LOSS
from reslab.sweep.jobs import BASELINE, Group, Sweep
from reslab.sweep.stats import ALPHA, MAX_SEEDS, POWER, Difference, clip, compare, holm, seeds_needed, verdict
from reslab.sweep.tables import Section, mean_std


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
        diff = compare([a[s] for s in common], [b[s] for s in common], higher, paired=True)
        seeds = f"{len(common)} paired"
    else:
        diff, seeds = compare(list(a.values()), list(b.values()), higher), f"{len(a)} vs {len(b)}"
    if not log:  # a difference of two fractions lies in [-1, 1]; its interval too
        diff = replace(diff, **dict(zip(("low", "high"), clip((diff.mean, diff.low, diff.high), -1.0, 1.0)[1:])))
    return diff, seeds


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


def judged(sweep: Sweep) -> tuple[list[tuple[Comparison, Judged, Judged]], int]:
    """Every comparison with its (test metric, loss) verdicts after Holm over all of them, and m."""
    comps = comparisons(sweep)
    verdicts = judge([d for c in comps for d in ((c.metric, True), (c.loss, False))])
    m = sum(math.isfinite(j.p_holm) for j in verdicts)
    return [(c, verdicts[2 * i], verdicts[2 * i + 1]) for i, c in enumerate(comps)], m


def comparison_section(sweep: Sweep) -> Section | None:
    found, m = judged(sweep)
    if not found:
        return None
    rows = []
    for c, metric, loss in found:
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


def _outcomes(sweep: Sweep, found: list[tuple[Comparison, Judged]], ratio: bool) -> str:
    """"better: `plain` (+0.26 [+0.21, +0.31]); no clear difference: `csp` (needs 5 seeds)", by verdict."""
    by_verdict: dict[str, list[str]] = {}
    for c, judgement in found:
        diff = c.loss if ratio else c.metric
        if judgement.verdict in ("better", "worse"):
            note = f" ({_interval(diff, ratio)})"
        elif judgement.verdict != "no clear difference" or not judgement.seeds_needed:
            note = ""
        elif judgement.seeds_needed.isdigit():
            note = f" (needs {judgement.seeds_needed} seeds)"
        else:
            note = f" (needs ≥ {MAX_SEEDS} seeds)"
        by_verdict.setdefault(judgement.verdict, []).append(f"`{sweep.variant(c.group)}`{note}")
    return "; ".join(f"{verdict}: {', '.join(names)}" for verdict, names in by_verdict.items())


def verdict_section(sweep: Sweep) -> Section | None:
    """The answer first: per comparison set (the settings that differ only in the variant; usually one depth), the
    best variant, and what differs from `noshortcut` after Holm and what needs more seeds."""
    if not any(group.finished for group in sweep.groups):
        return None
    found, m = judged(sweep)
    by_group = {id(c.group): (c, metric, loss) for c, metric, loss in found}
    sets: dict[tuple, list[Group]] = {}
    test, key = sweep.test_key, sweep.variant_key
    for group in sweep.groups:  # no variant key swept (a search over lr, say): every setting in one set
        sets.setdefault(sweep.others(group) if key else (), []).append(group)
    text = []
    for groups in sets.values():
        where = sweep.label(groups[0], without=(key,) if key else tuple(sweep.keys))
        head = f"**{where}**: " if where != "all jobs" else ""
        scored = [(statistics.fmean(g.values(test)), g) for g in groups if g.values(test)]
        if not scored:
            text.append(f"{head}no finished run with a {test}.")
            continue
        best = max(scored, key=lambda pair: pair[0])[1]
        name = sweep.variant(best) if key else sweep.label(best)
        seeds = len(best.values(test))
        among = f" of {len(groups)} {'variants' if key else 'settings'}" if len(groups) > 1 else ""
        line = f"{head}best {test}{among}: `{name}`, {mean_std(best.values(test))} ({seeds} seed{'s' * (seeds > 1)})."
        mine = [by_group[id(g)] for g in groups if id(g) in by_group]
        if mine:
            metric = _outcomes(sweep, [(c, j) for c, j, _ in mine], ratio=False)
            loss = _outcomes(sweep, [(c, j) for c, _, j in mine], ratio=True)
            line += (f" Against `{BASELINE}`, after Holm over m = {m}: {test}: {metric}. Final training loss "
                     f"(ratio): {loss}.")
        elif key:
            line += f" No `{BASELINE}` run at these settings: no verdicts against a baseline."
        text.append(line)
    return Section("The answer", text)
