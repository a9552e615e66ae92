"""The cost frontier: each setting's test metric against what it costs (parameters, FLOPs, measured throughput).

A setting is Pareto-optimal on a cost axis when no other setting is at least as good on both the metric (higher)
and the cost (fewer params/FLOPs, more samples/s) and strictly better on one. Decided on the means over seeds.
"""
import math
from dataclasses import dataclass

from reslab.sweep.jobs import Group, Sweep
from reslab.sweep.stats import spread

# (metrics.json key, title, lower cost is better)
COSTS = (("params", "params", True), ("flops", "FLOPs", True), ("throughput", "samples/s", False))


@dataclass(frozen=True)
class Point:
    """A setting on one cost axis: means over its seeds, with the seeds' range (min, max)."""

    group: Group
    cost: float
    cost_low: float  # the seeds' min and max (params and FLOPs do not vary; throughput does, and stays > 0)
    cost_high: float
    metric: float
    low: float
    high: float


def dominated(i: int, costs: list[float], metrics: list[float], lower_is_better: bool) -> bool:
    sign = 1 if lower_is_better else -1
    return any(sign * costs[j] <= sign * costs[i] and metrics[j] >= metrics[i]
               and (sign * costs[j] < sign * costs[i] or metrics[j] > metrics[i])
               for j in range(len(costs)) if j != i)


def pareto(costs: list[float], metrics: list[float], lower_is_better: bool = True) -> set[int]:
    """Indices of the points no other point dominates."""
    return {i for i in range(len(costs)) if not dominated(i, costs, metrics, lower_is_better)}


def points(sweep: Sweep, key: str) -> list[Point]:
    """One point per setting with a finished seed that has both the cost and the test metric."""
    out = []
    for group in sweep.groups:
        metric, cost = group.values(sweep.test_key), group.values(key)
        if metric and cost:
            out.append(Point(group, *spread(cost), *spread(metric)))
    return out


def same_cost(pts: list[Point]) -> bool:
    """Every setting at the same cost (within 0.1 %): a frontier on that axis has nothing to show."""
    costs = [p.cost for p in pts]
    return len(pts) > 1 and max(costs) - min(costs) <= 1e-3 * max(abs(c) for c in costs)


def frontier(sweep: Sweep) -> dict[str, tuple[str, bool, list[Point], set[int]]]:
    """{cost key: (title, lower is better, points, indices of the Pareto-optimal points)} for the costs measured."""
    out = {}
    for key, title, lower in COSTS:
        pts = points(sweep, key)
        if pts:
            out[key] = (title, lower, pts, pareto([p.cost for p in pts], [p.metric for p in pts], lower))
    return out


def optimal_on(sweep: Sweep, front: dict) -> dict[int, list[str]]:
    """{id(group): [cost titles on which it is Pareto-optimal]}."""
    marks: dict[int, list[str]] = {}
    for title, _, pts, best in front.values():
        for i in best:
            if math.isfinite(pts[i].metric):
                marks.setdefault(id(pts[i].group), []).append(title)
    return marks
