"""`summarize(folder)`: a sweep folder -> summary.csv, curves.csv, the PNGs, summary.md and report.html.

report.html is self-contained (the tables, and every figure as a base64 data URI; no script, no link): it opens
from the folder, a copy, or an e-mail attachment.
"""
import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reslab.run_files import write_text
from reslab.sweep.compare import comparison_section, verdict_section
from reslab.sweep.curves import LOSS_TARGET, has_time
from reslab.sweep.figures import Figure, curves, frontier_figure, gradient_flow, wrc
from reslab.sweep.figures import results as results_figure
from reslab.sweep.jobs import Sweep, load_sweep
from reslab.sweep.mechanisms import mechanisms_section
from reslab.sweep.tables import Section, results, time_to_target_section, unfinished, write_csv, write_curves_csv
from reslab.sweep.timing import fill_times


@dataclass(frozen=True)
class Targets:
    """What the time-to-target section measures against (see `summarize`)."""

    target: float | None
    loss_target: float


def _time_to_target(sweep: Sweep, targets: Targets) -> Section | None:
    return time_to_target_section(sweep, targets.target, targets.loss_target, has_time(sweep))


# The page, top to bottom: the answer, then the tables, then the figures. A section builder takes (sweep, targets)
# and returns a Section or None (nothing to say); a figure builder takes the sweep, draws its PNGs with
# `plotting.save` and returns their `Figure`s (captions). Add a builder to these tuples to add a part to every report.
SECTIONS: tuple[Callable[[Sweep, Targets], Section | None], ...] = (
    lambda sweep, _: verdict_section(sweep),
    lambda sweep, _: results(sweep),
    lambda sweep, _: comparison_section(sweep),
    _time_to_target,
    lambda sweep, _: unfinished(sweep),
)
FIGURES: tuple[Callable[[Sweep], list[Figure]], ...] = (results_figure, curves, frontier_figure, gradient_flow, wrc)


def sections(sweep: Sweep, targets: Targets, builders=SECTIONS) -> list[Section]:
    return [section for build in builders if (section := build(sweep, targets)) is not None]


def _md_table(section: Section) -> list[str]:
    if not section.header:
        return []
    lines = ["| " + " | ".join(section.header) + " |", "|" + "|".join("---" for _ in section.header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in section.rows]


def markdown(sweep: Sweep, parts: list[Section], shown: list[Figure]) -> str:
    lines = [f"# Sweep summary: {sweep.folder.name}"]
    for section in parts:
        lines += [""] + ([f"## {section.title}", ""] if section.title else [])
        lines += [text for paragraph in section.text for text in (paragraph, "")]
        lines += _md_table(section)
    if shown:
        lines += ["", "## Figures", ""]
        for figure in shown:
            lines += ([f"![{figure.name}]({figure.name})", ""] if figure.name else []) + [f"*{figure.caption}*", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"  # one blank line between parts


def _inline(text: str) -> str:
    """Escaped text with the markdown this summary uses: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top;white-space:nowrap}
td:last-child{white-space:normal;min-width:12em}th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}img{max-width:100%;height:auto;border:1px solid #eee;margin:.5em 0}
code{background:#f4f4f4;padding:0 .2em;overflow-wrap:anywhere}figure{margin:1.5em 0}
figcaption{color:#444;font-size:.9em;max-width:80em}p{max-width:80em;line-height:1.4}
.answer{background:#f5f8fc;border-left:4px solid #1f77b4;padding:.2em 1em}"""


def report_html(sweep: Sweep, parts: list[Section], shown: list[Figure]) -> str:
    title = f"Sweep summary: {sweep.folder.name}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>",
           f"<p>Folder: <code>{html.escape(str(sweep.folder.resolve()))}</code></p>"]
    for index, section in enumerate(parts):
        if section.title:
            out.append(f"<h2>{_inline(section.title)}</h2>")
        tag = '<p class="answer">' if index == 0 and not section.header else "<p>"  # the answer, first
        out += [f"{tag}{_inline(paragraph)}</p>" for paragraph in section.text]
        if section.header:
            out.append('<div class="scroll"><table><thead><tr>'
                       + "".join(f"<th>{_inline(h)}</th>" for h in section.header) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>" for row in section.rows]
            out.append("</tbody></table></div>")
    if shown:
        out.append("<h2>Figures</h2>")
    for figure in shown:
        caption = _inline(figure.caption)
        if figure.name is None:
            out.append(f"<p>{caption}</p>")
            continue
        data = base64.b64encode((sweep.folder / figure.name).read_bytes()).decode("ascii")
        out.append(f'<figure><img alt="{html.escape(figure.name)}" src="data:image/png;base64,{data}">'
                   f"<figcaption><code>{html.escape(figure.name)}</code>: {caption}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def summarize(folder: Path, target: float | None = None, loss_target: float | None = None) -> Path:
    """Write summary.csv, curves.csv, the PNG figures, summary.md and report.html into the sweep folder; returns
    summary.md's path. `target`: the validation metric a job must reach for time-to-target; None takes the
    sweep's `summary.target` (.hydra/config.yaml of its jobs), else 99 % of the baseline's at the same settings.
    `loss_target` (default `summary.loss_target`, else 1): the training loss to fall below. Every file is written
    atomically: on a full disk or a kill, each keeps its old content or gets the complete new one."""
    sweep = load_sweep(Path(folder))
    fill_times(sweep)
    target = target if target is not None else sweep.setting("target")
    loss_target = loss_target if loss_target is not None else float(sweep.setting("loss_target", LOSS_TARGET))
    write_csv(sweep, sweep.folder / "summary.csv", target, loss_target)
    write_curves_csv(sweep, sweep.folder / "curves.csv")
    shown = [figure for draw in FIGURES for figure in draw(sweep)]
    parts = sections(sweep, Targets(target, loss_target))
    path = sweep.folder / "summary.md"
    mech_md, mech_html, _ = mechanisms_section(sweep, sweep.folder)  # lesions, path lengths, signal, CKA figures
    write_text(path, markdown(sweep, parts, shown) + mech_md)
    page = report_html(sweep, parts, shown)
    write_text(sweep.folder / "report.html", page.replace("</body>", mech_html + "</body>"))
    return path
