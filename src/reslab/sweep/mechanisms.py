"""The mechanisms instruments across a sweep: each finished job's <instrument>.csv (written by
reslab.callbacks.Mechanisms or scripts/mechanisms.py) read from disk and overlaid per setting, one colour per
series, the band of each curve the range of its seeds (bounded to the quantity's range), one panel per depth.
`mechanisms_section(sweep)` -> (markdown, html, figure names) for summary.md and report.html."""
import base64
import csv
import html
import math
import statistics
from pathlib import Path

from matplotlib.figure import Figure

from reslab.sweep.jobs import Group, Sweep
from reslab.sweep.palette import sweep_palette

HEADLINES = (  # (metrics.json key, column title)
    ("lesion/error_intact", "test error, intact"),
    ("lesion/error_single_mean", "1 block deleted (mean)"),
    ("lesion/error_k_half", "half the blocks deleted"),
    ("path_length/lo", "90 % of gradient: from"),
    ("path_length/hi", "to (path length)"),
    ("signal/stream_var_growth", "stream variance growth at init"),
    ("shattered/neighbour_corr", "neighbour gradient correlation at init"),
    ("cka/adjacent_mean", "CKA of neighbouring blocks"),
    ("cka/block_structure", "largest CKA block"),
)
READING = {
    "mech_lesion.png": "Lesions (Veit et al. 2016): left, the test error after deleting one block (x: which); right, "
                       "after deleting k random blocks. A residual net whose error stays near the intact line when one "
                       "block goes, and rises smoothly with k, behaves like an ensemble of shallow paths; a net "
                       "without "
                       "shortcuts jumps towards chance.",
    "mech_path_length.png": "Gradient by path length (Veit et al. 2016, Fig. 6): the share of the gradient at the "
                            "input that paths of each length carry. Mass far left of the middle (n/2, where most "
                            "paths are) means the gradient comes from short paths.",
    "mech_signal.png": "Signal propagation at initialisation (Brock et al. 2021): the residual stream's average "
                       "channel variance per block, log scale. A straight rising line on this log axis is "
                       "exponential growth (no normalisation); a flat or slowly rising one means the branches are "
                       "down-scaled (BatchNorm, SkipInit).",
    "mech_shattered.png": "Shattered gradients at initialisation (Balduzzi et al. 2017): the correlation of the input "
                          "gradients of points that many steps apart on a line of inputs. A curve that falls to 0 "
                          "at once is white-noise gradients; shortcuts keep it high.",
    "mech_cka.png": "CKA between blocks of the trained nets (Kornblith et al. 2019), one heatmap per setting (first "
                    "seed). Bright squares along the diagonal are a block structure (Nguyen et al. 2021): runs of "
                    "blocks that compute nearly the same representation.",
}


def read_rows(path: Path) -> list[dict]:
    """A CSV's rows with numbers as floats (empty list when the file is absent)."""
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(file)]


def _number(text: str):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def label(sweep: Sweep, group: Group, without: tuple[str, ...] = ()) -> str:
    """The group's swept values, leaving out the keys it does not set (merged sweeps)."""
    return ", ".join(f"{k}={v}" for k, v in zip(sweep.keys, group.key) if v != "" and k not in without) or "all jobs"


def colour(sweep: Sweep, group: Group) -> str:
    """The series' colour in every figure of the sweep's report (reslab.sweep.palette: the baseline grey)."""
    return sweep_palette(sweep)[sweep.series(group)]


def _curves(sweep: Sweep, name: str, x: str, y: str, where=None) -> dict:
    """{depth: [(group, xs, per-seed ys)]}: each finished job's `name`.csv (its rows for which `where` holds), y
    averaged over the rows with equal x (the draws of a lesion)."""
    found: dict[int, list] = {}
    for group in sweep.groups:
        seeds = []
        for job in group.jobs:
            rows = read_rows(job.path / f"{name}.csv") if job.finished else []
            rows = [r for r in rows if where is None or where(r)]
            xs = sorted({r[x] for r in rows if isinstance(r[x], float)})
            if xs:
                seeds.append((xs, [_mean([r[y] for r in rows if r[x] == v]) for v in xs]))
        if seeds:
            xs = min((s[0] for s in seeds), key=len)
            found.setdefault(group.depth, []).append((group, xs, [s[1][:len(xs)] for s in seeds]))
    return found


def _mean(values) -> float:
    values = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    return statistics.fmean(values) if values else math.nan


def _band(ax, xs, seeds, colour_, label, bounds=(-math.inf, math.inf), log=False):
    """Mean over the seeds, shaded between the lowest and highest seed, clipped to `bounds`."""
    columns = list(zip(*seeds))
    finite = [[v for v in c if math.isfinite(v)] for c in columns]
    mean = [statistics.fmean(c) if c else math.nan for c in finite]
    low = [max(min(c), bounds[0]) if c else math.nan for c in finite]
    high = [min(max(c), bounds[1]) if c else math.nan for c in finite]
    ax.fill_between(xs, low, high, color=colour_, alpha=0.2, linewidth=0)
    (ax.semilogy if log else ax.plot)(xs, mean, color=colour_, marker="o", markersize=2.5, linewidth=1.2, label=label)


def _bands(ax, sweep: Sweep, curves, bounds=(-math.inf, math.inf), log=False):
    """One band (`_band`) per variant of `curves` ([(group, xs, seeds)], one depth of `_curves`), in its colour."""
    for group, xs, seeds in curves:
        _band(ax, xs, seeds, colour(sweep, group), label(sweep, group, ("depth",)), bounds, log)


def _panels(sweep: Sweep, data: dict, name: str, columns: int, draw, width: float = 5.2) -> str | None:
    if not data:
        return None
    depths = sorted(data)
    fig = Figure(figsize=(width * columns, 3.4 * len(depths)))
    axes = fig.subplots(len(depths), columns, squeeze=False)
    for row, depth in zip(axes, depths):
        draw(row, depth)
        for ax in row:
            ax.grid(alpha=0.3)
        row[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(sweep.folder / name, dpi=100)
    return name


def _lesion(sweep: Sweep) -> str | None:
    single = _curves(sweep, "lesion", "k", "error", lambda r: r["kind"] == "single")
    several = _curves(sweep, "lesion", "k", "error", lambda r: r["kind"] == "random")

    def draw(row, depth):
        _bands(row[0], sweep, single.get(depth, []), (0, 1))
        _bands(row[1], sweep, several.get(depth, []), (0, 1))
        row[0].set(title=f"depth {depth}: one block deleted", xlabel="deleted block", ylabel="test error", ylim=(0, 1))
        row[1].set(title=f"depth {depth}: k random blocks deleted", xlabel="k", ylabel="test error", ylim=(0, 1))

    return _panels(sweep, several or single, "mech_lesion.png", 2, draw)


def _paths(sweep: Sweep) -> str | None:
    data = _curves(sweep, "path_length", "k", "share")
    counts = _curves(sweep, "path_length", "k", "path_fraction")

    def draw(row, depth):
        _bands(row[0], sweep, data[depth], (0, 1))
        _, xs, seeds = counts[depth][0]
        row[0].plot(xs, seeds[0], color="grey", linestyle="--", linewidth=1, label="share of the paths")
        row[0].set(title=f"depth {depth}: share of the gradient by path length", xlabel="path length k",
                   ylabel="share of the gradient", ylim=(0, None))

    return _panels(sweep, data, "mech_path_length.png", 1, draw, width=7)


def _signal(sweep: Sweep) -> str | None:
    return _one_panel(sweep, "signal", "block", "stream_var", "mech_signal.png", (0, math.inf), log=True,
                      title="residual stream at initialisation", xlabel="block (0: entering the first)",
                      ylabel="average channel variance")


def _shattered(sweep: Sweep) -> str | None:
    return _one_panel(sweep, "shattered", "lag", "corr", "mech_shattered.png", (-1, 1),
                      title="gradient autocorrelation at initialisation", xlabel="distance between points (steps)",
                      ylabel="gradient correlation", ylim=(-1.05, 1.05))


def _one_panel(sweep: Sweep, kind: str, x: str, y: str, name: str, bounds, title: str, log=False, **axes):
    """A figure of one panel per depth: `kind`'s `y` against `x`, a band per variant (signal, shattered)."""
    data = _curves(sweep, kind, x, y)

    def draw(row, depth):
        _bands(row[0], sweep, data[depth], bounds, log=log)
        row[0].set(title=f"depth {depth}: {title}", **axes)

    return _panels(sweep, data, name, 1, draw, width=7)


def _cka(sweep: Sweep) -> str | None:
    cells = []
    for group in sweep.groups:
        job = next((j for j in group.jobs if j.finished and (j.path / "cka.csv").is_file()), None)
        if job is not None:
            rows = read_rows(job.path / "cka.csv")
            n = int(max(r["i"] for r in rows)) + 1
            matrix = [[math.nan] * n for _ in range(n)]
            for r in rows:
                matrix[int(r["i"])][int(r["j"])] = r["cka"]
            cells.append((f"{label(sweep, group)} (seed {job.seed})", matrix))
    if not cells:
        return None
    columns = min(4, len(cells))
    rows_ = math.ceil(len(cells) / columns)
    fig = Figure(figsize=(3.3 * columns + 1.0, 3.2 * rows_), layout="constrained")
    axes = fig.subplots(rows_, columns, squeeze=False).flatten()
    for ax, (title, matrix) in zip(axes, cells):
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap="magma", origin="lower")
        ax.set_title(title, fontsize=8)
        ax.set(xlabel="block", ylabel="block")
    for ax in axes[len(cells):]:
        ax.axis("off")
    fig.colorbar(image, ax=list(axes), label="linear CKA", shrink=0.9)
    fig.savefig(sweep.folder / "mech_cka.png", dpi=100)
    return "mech_cka.png"


def _cell(values: list[float]) -> str:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{min(values):.3g}, {max(values):.3g}]"


def mechanisms_section(sweep: Sweep, folder: Path | None = None) -> tuple[str, str, list[str]]:
    """(markdown, html, figure names) of the mechanisms section; ("", "", []) when no job measured any. The
    figures are written into the sweep folder (`folder` is accepted for the report's call and must be it)."""
    figures = [f for f in (_lesion(sweep), _paths(sweep), _signal(sweep), _shattered(sweep), _cka(sweep)) if f]
    keys = [(k, title) for k, title in HEADLINES if any(g.values(k) for g in sweep.groups)]
    if not figures and not keys:
        return "", "", []
    header = ["setting", "seeds", *(title for _, title in keys)]
    table = [[label(sweep, g), str(g.finished), *(_cell(g.values(k)) for k, _ in keys)] for g in sweep.groups]
    intro = ("How each network works inside (docs/mechanisms.md): mean over the seeds [lowest, highest]. Error after "
             "deleting blocks from the trained net; the path lengths carrying 90 % of the input gradient; at "
             "initialisation, the stream variance growth from the first block to the last and the correlation of "
             "neighbouring input gradients; CKA between the trained blocks.")
    md = ["", "## Mechanisms", "", intro, ""]
    if keys:
        md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(row) + " |" for row in table]
    for name in figures:
        md += ["", READING[name], "", f"![{name}]({name})"]
    out = ["<h2>Mechanisms</h2>", f"<p>{html.escape(intro)}</p>"]
    if keys:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table]
        out.append("</tbody></table>")
    for name in figures:
        data = base64.b64encode((sweep.folder / name).read_bytes()).decode("ascii")
        out.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{html.escape(name)}: {html.escape(READING[name])}</figcaption></figure>")
    return "\n".join(md) + "\n", "\n".join(out) + "\n", figures
