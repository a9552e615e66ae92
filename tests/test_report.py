"""What a sweep summary adds on known inputs: seed-averaged curves, time to target, the cost frontier, the
self-contained report.html, job folder names, and the TensorBoard HParams of runs and sweeps."""
import base64
import errno
import json
import math
import runpy
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex, to_rgb
from omegaconf import OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from conftest import ROOT
from fake_sweep import write_sweep
from reslab import hparams
from reslab.sweep import keys as naming
from reslab.sweep.curves import Reached, curve, first_reached, metric_target, time_to_target
from reslab.sweep.frontier import pareto
from reslab.sweep import figures, report
from reslab.sweep.jobs import Group, Job, Sweep, load_sweep
from reslab.sweep.palette import BASELINE_COLOUR, COLOURS, palette
from reslab.sweep.report import summarize
from reslab.sweep.stats import t_interval
from reslab.sweep.timing import fill_times

T_975_2 = 4.302652729911275

HISTORY = [  # a synthetic run: val/acc reaches 0.93 at epoch 4 (9 s), the loss falls below 1 at epoch 3 (6.5 s)
    {"epoch": 0, "train/loss": 2.3, "val/acc": 0.50, "time_s": 2.0},
    {"epoch": 1, "train/loss": 1.2, "val/acc": 0.80, "time_s": 4.0},
    {"epoch": 2, "train/loss": 0.9, "val/acc": 0.92, "time_s": 6.5},
    {"epoch": 3, "train/loss": 0.5, "val/acc": 0.95, "time_s": 9.0},
    {"epoch": 4, "train/loss": 0.2, "val/acc": 0.97, "time_s": 11.0},
]


def _job(seed, history, model="plain", **metrics) -> Job:
    metrics = {"status": "ok", "monitor": "val/acc", "history": history, **metrics}
    return Job(Path(f"model={model},seed={seed}"), seed, {"model": model, "seed": str(seed)}, {"depth": 20}, metrics)


def _sweep(groups: dict[str, list[Job]]) -> Sweep:
    made = [Group((model,), jobs) for model, jobs in groups.items()]
    return Sweep(Path("."), [job for g in made for job in g.jobs], ["model"], made, "val/acc")


def test_the_interval_of_three_seeds_is_the_t_interval_by_hand_kept_in_0_1():
    accs = [0.90, 0.92, 0.97]
    jobs = [_job(s, [{"epoch": 0, "train/loss": loss, "val/acc": acc, "time_s": 3.0 + s}])
            for s, (acc, loss) in enumerate(zip(accs, (1e-2, 1e-3, 1e-4)))]
    (point,) = curve(Group(("plain",), jobs), "val/acc")
    half = T_975_2 * math.sqrt((0.03 ** 2 + 0.01 ** 2 + 0.04 ** 2) / 2) / math.sqrt(3)
    assert (point.epoch, point.n, point.seconds) == (1, 3, pytest.approx(4.0))
    assert 0.93 + half > 1  # the t-interval of an accuracy reaches past 1: it is clipped to the possible range
    assert (point.mean, point.low, point.high) == pytest.approx((0.93, 0.93 - half, 1.0))
    assert (point.min, point.max) == (0.90, 0.97)  # the seeds' own range: the figures' band
    (loss,) = curve(Group(("plain",), jobs), "train/loss")  # geometric mean, band of the log-losses
    assert loss.mean == pytest.approx(1e-3) and loss.high / loss.mean == pytest.approx(
        math.exp(T_975_2 * math.log(10) / math.sqrt(3)))


def test_time_to_target_on_a_synthetic_history():
    job = _job(0, HISTORY)
    assert first_reached(job, "val/acc", 0.93, above=True) == Reached(4, 9.0)
    assert first_reached(job, "train/loss", 1.0, above=False) == Reached(3, 6.5)
    assert first_reached(job, "val/acc", 0.99, above=True) is None  # never
    untimed = _job(1, [{k: v for k, v in row.items() if k != "time_s"} for row in HISTORY])
    assert first_reached(untimed, "val/acc", 0.93, above=True).epoch == 4
    assert math.isnan(first_reached(untimed, "val/acc", 0.93, above=True).seconds)

    slow = [dict(row, **{"val/acc": row["val/acc"] - 0.02}) for row in HISTORY]  # reaches 0.93 at epoch 5
    never = [dict(row, **{"val/acc": 0.5}) for row in HISTORY]
    base = [_job(s, HISTORY, "noshortcut", **{"val/acc": acc}) for s, acc in enumerate((0.90, 0.94))]
    sweep = _sweep({"plain": [_job(0, HISTORY), _job(1, slow), _job(2, never)], "noshortcut": base})
    plain = sweep.groups[0]
    # default target: 99 % of the mean best val/acc of noshortcut (0.92) = 0.9108 -> epochs 3, 4 and never
    assert metric_target(sweep, plain, None) == pytest.approx(0.9108)
    metric, loss = time_to_target(sweep, plain)
    assert metric.count == "2/3" and metric.never == 1  # "never" is counted, not dropped
    # geometric means (epochs and seconds are positive: their intervals are taken on the log scale)
    assert metric.epochs()[0] == pytest.approx(math.sqrt(3 * 4)) and metric.seconds()[0] == pytest.approx(
        math.sqrt(6.5 * 9.0))
    assert metric.epochs()[1] >= 1 and metric.seconds()[1] > 0  # t = 12.7 over two seeds, still >= 1 and > 0
    assert loss.count == "3/3" and loss.epochs()[0] == pytest.approx(3)
    metric, _ = time_to_target(sweep, plain, target=0.96)  # a target given: epoch 5 for the first run only
    assert metric.count == "1/3" and metric.epochs()[0] == pytest.approx(5)


def test_seconds_come_from_tensorboard_when_the_history_has_none(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "tensorboard"))
    start = plugin_data_pb2.HParamsPluginData(session_start_info=plugin_data_pb2.SessionStartInfo(start_time_secs=100))
    writer.add_event(Event(wall_time=99.0, summary=hparams._summary("_hparams_/session_start_info", start)))
    for epoch, (step, wall) in enumerate(((9, 104.0), (18, 106.5))):  # epochs end 4 s and 6.5 s into the fit
        for tag, value in (("val/acc", 0.8 + 0.1 * epoch), ("epoch", epoch)):
            writer.add_event(Event(wall_time=wall, step=step,
                                   summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)])))
    writer.close()
    history = [{"epoch": 0, "train/loss": 1.2, "val/acc": 0.8}, {"epoch": 1, "train/loss": 0.9, "val/acc": 0.9}]
    job = Job(tmp_path, 0, {"seed": "0"}, {"depth": 20}, {"status": "ok", "history": history})
    fill_times(Sweep(tmp_path, [job], [], [Group((), [job])], "val/acc"))
    assert [row["time_s"] for row in job.history] == [4.0, 6.5]
    assert first_reached(job, "val/acc", 0.85, above=True) == Reached(2, 6.5)


def test_the_frontier_marks_the_right_points():
    # (cost, metric): (1, .5) (2, .7) (3, .6) (4, .9): (3, .6) is dominated by (2, .7); the others are optimal
    assert pareto([1, 2, 3, 4], [0.5, 0.7, 0.6, 0.9]) == {0, 1, 3}
    assert pareto([1, 1, 2], [0.5, 0.5, 0.4]) == {0, 1}  # ties dominate neither; (2, .4) is dominated
    assert pareto([10, 20, 30], [0.9, 0.8, 0.95], lower_is_better=False) == {2}  # throughput: more is better
    assert pareto([10, 20, 30], [0.99, 0.8, 0.95], lower_is_better=False) == {0, 2}


def _write_job(folder: Path, overrides: dict, metrics: dict, num: int, config: dict | None = None) -> None:
    hydra = folder / ",".join(f"{k}={v}" for k, v in overrides.items()) / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "overrides.yaml").write_text("".join(f"- {k}={v}\n" for k, v in overrides.items()))
    (hydra / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
    OmegaConf.save(OmegaConf.create({"depth": overrides["depth"], **(config or {})}), hydra / "config.yaml")
    (hydra.parent / "metrics.json").write_text(json.dumps({"status": "ok", "monitor": "val/acc", **metrics}))


@pytest.fixture
def cost_sweep(tmp_path):
    """Four block types, two seeds, ONE epoch each: csp is cheaper and as good as plain; noshortcut is worse."""
    quality = {"plain": 0.95, "weighted": 0.96, "csp": 0.95, "noshortcut": 0.80}
    cost = {"plain": 1.0, "weighted": 1.0, "csp": 0.7, "noshortcut": 0.99}
    num = 0
    for model, acc in quality.items():
        for seed in (0, 1):
            a = acc + 0.004 * seed
            metrics = {"val/acc": a, "test/acc": a, "train/loss": 1.5 - a, "params": 270_000 * cost[model],
                       "flops": 4e7 * cost[model], "throughput": 900 / cost[model] + seed,
                       "history": [{"epoch": 0, "train/loss": 1.5 - a, "val/acc": a, "time_s": 2.0 + seed}]}
            config = {"summary": {"target": 0.9}}  # as `python train.py -m summary.target=0.9 ...` records it
            _write_job(tmp_path, {"model": model, "depth": 20, "seed": seed}, metrics, num, config)
            num += 1
    return tmp_path


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]


def _coloured_pixels(path: Path) -> int:
    """Pixels of a saturated colour: lines and bands (axes, grid and text are grey or black)."""
    with Image.open(path) as image:
        return sum(max(p) - min(p) > 60 for p in image.convert("RGB").getdata())


def test_report_is_self_contained_html_with_every_figure_and_the_frontier(cost_sweep):
    text = summarize(cost_sweep).read_text()
    pngs = sorted(p.name for p in cost_sweep.glob("*.png"))
    assert {"results.png", "curves_depth20.png", "frontier.png"} <= set(pngs)  # one depth: results, not depth
    assert _coloured_pixels(cost_sweep / "curves_depth20.png") > 200  # one epoch: points and error bars, not empty

    page = (cost_sweep / "report.html").read_text()
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.tags[0] == "html" and parser.tags.count("table") >= 3 and "script" not in parser.tags
    assert "link" not in parser.tags and not any(name == "href" for _, name, _ in parser.attrs)
    sources = [value for tag, name, value in parser.attrs if name == "src"]
    assert all(src.startswith("data:image/png;base64,") for src in sources)  # nothing fetched from anywhere
    embedded = sorted(base64.b64decode(src.split(",", 1)[1]) for src in sources)
    assert embedded == sorted((cost_sweep / name).read_bytes() for name in pngs)  # every PNG, byte for byte
    assert "Pareto-optimal on" in page and "Time to target" in page

    # csp: as accurate as plain for 70 % of the cost -> on the frontier; weighted: the most accurate -> too
    rows = {line.split("|")[1].strip(): line for line in text.split("## Against")[0].splitlines()
            if line.startswith("| ")}
    assert rows["csp"].rstrip(" |").endswith("params, FLOPs, samples/s")
    assert rows["weighted"].rstrip(" |").endswith("params, FLOPs, samples/s")
    assert rows["plain"].rstrip(" |").endswith("–") and rows["noshortcut"].rstrip(" |").endswith("–")
    # time to target: the sweep's summary.target (0.9) from its .hydra/config.yaml, 2 seeds each, epoch 1
    # seconds 2 and 3: geometric mean 2.45, the t-interval of the log-seconds (t = 12.7) mapped back: > 0
    half = 12.706204736 * abs(math.log(3) - math.log(2)) / 2
    low, high = (math.sqrt(6) * math.exp(sign * half) for sign in (-1, 1))
    assert f"| model=csp | 0.9 | 2/2 | 1 [1, 1] | 2.45 [{low:.3g}, {high:.3g}] |" in text and low > 0
    assert "| model=noshortcut | 0.9 | 0/2 | – | – |" in text
    curves = (cost_sweep / "curves.csv").read_text().splitlines()
    assert curves[0] == "setting,metric,epoch,seconds,mean,low,high,n,min,max" and len(curves) == 1 + 4 * 2


def test_target_from_the_command_line_overrides_the_config(cost_sweep, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["summarize.py", str(cost_sweep), "--target", "0.955"])
    runpy.run_path(str(ROOT / "scripts" / "summarize.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "| model=weighted | 0.955 | 2/2 |" in out and "| model=plain | 0.955 | 0/2 |" in out
    assert f"report: {(cost_sweep / 'report.html').resolve().as_uri()}" in out


def test_job_folders_are_named_by_the_swept_keys_only(tmp_path):
    domains = naming.swept_domains(["model=plain,noshortcut", "depth=20", "dataset.root=/data/a,/data/b",
                                    "+foo=range(0,2)"], {"seed": "0,1,2", "lr": "tag(log, interval(0.001, 1.0))"})
    assert domains == {"model": ["plain", "noshortcut"], "dataset.root": ["/data/a", "/data/b"],
                       "foo": ["0", "1"], "seed": ["0", "1", "2"], "lr": {"interval": [0.001, 1.0]}}
    (tmp_path / naming.SWEPT_FILE).write_text(json.dumps(domains))  # as the sweep's start records them
    job = ["model=plain", "depth=20", "dataset.root=/data/a", "+foo=1", "seed=2", "epochs=1", "lr=0.0123"]
    assert list(domains) == ["lr", "model", "dataset.root", "foo", "seed"]  # preset params first, the seed last
    assert naming.job_dirname(job, 7, tmp_path) == "lr=0.0123,model=plain,dataset.root=_data_a,foo=1,seed=2"
    (tmp_path / naming.SWEPT_FILE).write_text("{}")
    assert naming.job_dirname(job, 7, tmp_path) == "7"  # nothing swept: the job number, as Hydra's default


CFG = {"model": {"block": "plain"}, "depth": 20, "width": None, "seed": 1, "epochs": 2, "batch_size": 128,
       "lr": 0.1, "weight_decay": 5e-4, "dataset": {"name": "digits", "root": None}, "summary": {"target": None}}


def _plugin(events, tag):
    return plugin_data_pb2.HParamsPluginData.FromString(events.PluginTagToContent("hparams")[tag])


def test_hparams_of_a_run_in_a_sweep(tmp_path):
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    swept = {"depth": ["20", "56"], "seed": ["0", "1"]}
    tb = TensorBoardLogger(tmp_path, name="tensorboard", version="", default_hp_metric=False)
    csv = CSVLogger(tmp_path, name="csv", version="")
    cfg = OmegaConf.create(CFG)
    hparams.log_start([tb], [csv], cfg, swept=swept)
    tb.log_metrics({"train/loss": 1.0}, step=0)
    metrics = {"status": "ok", "val/acc": 0.9, "test/acc": 0.89, "train/loss": 0.1, "params": 1000, "flops": math.nan}
    hparams.log_final([tb], [csv], metrics, "val/acc", step=10)
    tb.finalize("success")
    csv.finalize("success")

    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert "_hparams_/experiment" not in events.PluginTagToContent("hparams")  # one per sweep, not one per run
    start = _plugin(events, "_hparams_/session_start_info").session_start_info
    assert set(start.hparams) == {"depth", "seeds", "model.block", "width", "dataset.name", "epochs", "batch_size",
                                  "lr", "weight_decay"}  # the swept keys and the main ones, not the whole config
    assert start.group_name == "depth=20"  # the seeds of one setting share a group
    # the group's row says which seeds it averages (the same in every run of the group), not one seed's value
    assert start.hparams["seeds"].string_value == "0, 1 (2 seeds)" and start.hparams["width"].string_value == "null"
    assert start.hparams["depth"].string_value == "20" and start.hparams["batch_size"].string_value == "128"
    assert start.hparams["lr"].number_value == 0.1  # integers read as integers (text), floats stay numbers
    assert _plugin(events, "_hparams_/session_end_info").session_end_info.status == api_pb2.STATUS_SUCCESS
    scalars = events.Tags()["scalars"]
    assert [(e.step, e.value) for e in events.Scalars("hp/val/acc")] == [(10, pytest.approx(0.9))]  # no step-0 point
    assert "hp/flops" not in scalars and "hp/params" in scalars  # NaN is not logged
    saved = OmegaConf.load(tmp_path / "csv" / "hparams.yaml")  # other loggers: the whole config, flat
    assert saved["model/block"] == "plain" and saved["dataset/root"] == "null" and saved["seed"] == 1


def test_the_sweep_declares_its_swept_keys_first(tmp_path):
    swept = {"model": ["plain", "noshortcut"], "seed": ["0", "1", "2"], "lr": {"interval": [0.001, 1.0]}}
    hparams.write_experiment(tmp_path, OmegaConf.create(CFG), swept, "val/acc")
    experiment = _plugin(EventAccumulator(str(tmp_path)).Reload(), "_hparams_/experiment").experiment
    infos = {info.name: info for info in experiment.hparam_infos}
    assert [i.name for i in experiment.hparam_infos if i.differs] == ["model", "seeds", "lr"]
    assert sorted(v.string_value for v in infos["model"].domain_discrete.values) == ["noshortcut", "plain"]
    assert [v.string_value for v in infos["seeds"].domain_discrete.values] == ["0, 1, 2 (3 seeds)"]
    assert "seed" not in infos and infos["depth"].domain_discrete.values[0].string_value == "20"
    assert infos["lr"].domain_interval.max_value == 1.0 and "model.block" not in infos  # in the swept group
    assert not infos["depth"].differs and infos["width"].domain_discrete.values[0].string_value == "null"
    assert [m.name.tag for m in experiment.metric_infos][:3] == ["hp/val/acc", "hp/test/acc", "hp/train/loss"]
    hparams.write_experiment(tmp_path, OmegaConf.create(CFG), swept, "val/acc")  # a second start replaces it
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1


# --- the figures on known inputs: what is drawn, not only that a PNG exists ------------------------------------

ORDERS = ("post", "bn_after_add", "relu_before_add", "relu_preact", "preact")


@pytest.fixture(scope="session")
def orderings_like(tmp_path_factory):
    """Five orders x two seeds at one depth, every order at the same params and FLOPs (as the `orderings` preset)."""
    return write_sweep(tmp_path_factory.mktemp("orderings"), ORDERS, seeds=(0, 1), depths=(56,), key="model.order",
                       equal_cost=True)


@pytest.fixture
def drawn(monkeypatch):
    """{file name: the matplotlib figure} of every figure a summary draws (kept open to be inspected)."""
    figs = {}

    def keep(fig, sweep, name):
        figs[name] = fig
        return name

    monkeypatch.setattr(figures, "save", keep)
    yield figs
    for fig in figs.values():
        plt.close(fig)


def _bands(ax) -> list:
    """The (x, y) vertices of every shaded band of an axis (fill_between)."""
    return [collection.get_paths()[0].vertices for collection in ax.collections
            if isinstance(collection, PolyCollection) and collection.get_paths()]


def test_two_seed_bands_are_the_seeds_range_and_stay_in_0_1(orderings_like, drawn):
    sweep = load_sweep(orderings_like)
    (figure,) = figures.curves(sweep)
    loss_ax, acc_ax = drawn[figure.name].axes[:2]
    seeds = {order: [job for job in sweep.jobs if job.overrides["model.order"] == order] for order in ORDERS}
    for ax, key in ((loss_ax, "train/loss"), (acc_ax, "val/acc")):
        bands = _bands(ax)
        assert len(bands) == len(ORDERS)  # one band per variant, in the sweep's order
        for band, order in zip(bands, ORDERS):
            values = {row["epoch"] + 1: [] for row in seeds[order][0].history}
            for job in seeds[order]:
                for row in job.history:
                    values[row["epoch"] + 1].append(row[key])
            for x, y in band:
                assert min(values[round(x)]) - 1e-9 <= y <= max(values[round(x)]) + 1e-9
    low, high = acc_ax.get_ylim()
    assert low >= -0.02 and high <= 1.02  # the accuracy axis never runs past [0, 1] (plus a small margin)
    assert all(0 <= y <= 1 for band in _bands(acc_ax) for _, y in band)
    assert all(y > 0 for band in _bands(loss_ax) for _, y in band)  # a loss band stays positive (log axis)
    assert "thin: each seed" in [t.get_text() for t in drawn[figure.name].legends[0].get_texts()]


def test_a_variant_has_one_colour_in_every_figure_and_the_baseline_is_grey(tmp_path, drawn):
    sweep = load_sweep(write_sweep(tmp_path, seeds=(0, 1, 2), depths=(20, 56)))
    for draw in (figures.results, figures.curves, figures.frontier_figure, figures.gradient_flow):
        draw(sweep)
    expected = {"model=plain": COLOURS[0], "model=weighted": COLOURS[1], "model=csp": COLOURS[2],
                "model=noshortcut": BASELINE_COLOUR}
    for name, fig in drawn.items():
        legend = {text.get_text(): to_hex(handle.get_color()) for text, handle in
                  zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles) if text.get_text() in expected}
        assert legend == expected, name
    assert set(drawn) == {"depth.png", "curves_depth20.png", "curves_depth56.png", "frontier.png",
                          "grad_flow_depth20.png", "grad_flow_depth56.png"}


def test_the_palette_keeps_twelve_variants_apart():
    colours = palette([f"v{i}" for i in range(12)] + ["noshortcut"])
    assert colours["noshortcut"] == BASELINE_COLOUR and len(set(colours.values())) == 13
    rgb = [to_rgb(c) for c in colours.values()]
    closest = min(math.dist(a, b) for i, a in enumerate(rgb) for b in rgb[i + 1:])
    assert closest > 0.15  # no two of them nearly the same colour (two oranges were 0.08 apart)


def test_one_depth_and_equal_costs_get_the_replacement_figures(orderings_like, drawn):
    sweep = load_sweep(orderings_like)
    (results_figure,) = figures.results(sweep)
    assert results_figure.name == "results.png" and "One depth (56)" in results_figure.caption
    test_ax = drawn["results.png"].axes[0]
    assert [t.get_text() for t in test_ax.get_xticklabels()] == [f"model.order={o}" for o in ORDERS]
    (front,) = figures.frontier_figure(sweep)
    assert len(drawn["frontier.png"].axes) == 1  # params and FLOPs are equal: only the throughput axis is drawn
    assert "every setting has the same params (756k) and FLOPs (115M): no frontier on those axes" in front.caption
    assert len(drawn["frontier.png"].axes[0].texts) == 0  # a legend, not labels printed over each other
    bars = [line.get_xdata() for line in drawn["frontier.png"].axes[0].lines]
    assert all(x > 0 for xs in bars for x in xs)  # the throughput bars stay positive


def test_a_frontier_with_nothing_to_draw_is_one_line(tmp_path, drawn):
    folder = write_sweep(tmp_path, ("plain", "noshortcut"), equal_cost=True)
    for metrics_file in folder.glob("*/metrics.json"):  # no throughput measured: params and FLOPs only
        metrics = json.loads(metrics_file.read_text())
        metrics.pop("throughput")
        metrics_file.write_text(json.dumps(metrics))
    (note,) = figures.frontier_figure(load_sweep(folder))
    assert note.name is None and "frontier.png" not in drawn
    assert note.caption == "Cost frontier: every setting has the same params (270k) and FLOPs (41M): no frontier " \
                           "on those axes."


def test_intervals_of_positive_quantities_stay_positive(tmp_path):
    """Two seeds that reach the target at epochs 1 and 9 (t = 12.7): the t-interval would reach -40 epochs."""
    jobs = [_job(seed, [dict(row, **{"val/acc": 0.99 if row["epoch"] >= first - 1 else 0.1})
                        for row in HISTORY + [{"epoch": e, "train/loss": 0.1, "val/acc": 0.1, "time_s": 2.0 * e}
                                              for e in range(5, 9)]])
            for seed, first in ((0, 1), (1, 9))]
    sweep = _sweep({"plain": jobs})
    metric, _ = time_to_target(sweep, sweep.groups[0], target=0.95)
    mean, low, high = metric.epochs()
    assert mean == pytest.approx(3.0) and 1.0 <= low < mean < high  # geometric mean of 1 and 9
    _, low, _ = metric.seconds()
    assert low > 0
    assert t_interval([1, 9])[1] < 0  # what the table used to show


def test_a_full_disk_leaves_the_previous_summary_whole(cost_sweep, monkeypatch):
    """ENOSPC part-way through the next summary: every file is the previous one byte for byte or the complete new
    one (those written before the disk filled), never a part; no temp file is left. Two of the figures (every PNG
    goes through the same `figures.save`): five summaries of the whole set would take half a minute."""
    monkeypatch.setattr(report, "FIGURES", (figures.results, figures.frontier_figure))
    summarize(cost_sweep)
    names = ["summary.csv", "curves.csv", "summary.md", "report.html",
             *sorted(p.name for p in cost_sweep.glob("*.png"))]

    def contents():
        return {name: (cost_sweep / name).read_bytes() for name in names}

    before = contents()
    metrics_file = next(cost_sweep.glob("model=csp*/metrics.json"))  # the next summary differs in every file
    metrics = json.loads(metrics_file.read_text())
    history = [dict(row, **{"val/acc": 0.5, "train/loss": 2.0}) for row in metrics["history"]]
    metrics_file.write_text(json.dumps(dict(metrics, history=history, **{"test/acc": 0.5, "val/acc": 0.5,
                                                                          "train/loss": 2.0})))
    summarize(cost_sweep)
    after = contents()
    assert all(after[name] != before[name] for name in names)
    total = sum(len(data) for data in after.values())
    real_open = open
    for budget in (100, total // 2):  # the disk fills in the first file written, and half-way
        for name, data in before.items():
            (cost_sweep / name).write_bytes(data)
        left = [budget]

        class Filling:
            def __init__(self, file):
                self.file = file

            def write(self, data):
                if len(data) > left[0]:
                    self.file.write(data[:left[0]])
                    raise OSError(errno.ENOSPC, "No space left on device")
                left[0] -= len(data)
                return self.file.write(data)

            def __getattr__(self, name):
                return getattr(self.file, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

        def full_disk_open(path, mode="r", *args, **kwargs):
            file = real_open(path, mode, *args, **kwargs)
            return Filling(file) if any(m in mode for m in "wax") else file

        with monkeypatch.context() as disk:
            disk.setattr("builtins.open", full_disk_open)
            disk.setattr("io.open", full_disk_open)
            with pytest.raises(OSError) as error:
                summarize(cost_sweep)
        assert error.value.errno == errno.ENOSPC
        now = contents()
        assert all(now[name] in (before[name], after[name]) for name in names), budget  # old or new, whole
        assert any(now[name] == before[name] for name in names)  # the one the disk filled in: still the old
        assert (now["report.html"] == before["report.html"]) and now["summary.csv"] in (before["summary.csv"],
                                                                                       after["summary.csv"])
        assert not list(cost_sweep.glob(".*.tmp"))  # no temp file left behind
    summarize(cost_sweep)  # space again: the new summary is written whole
    assert contents() == after
