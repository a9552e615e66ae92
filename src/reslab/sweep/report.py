"""`summarize(folder)`: a sweep folder -> summary.csv, curves.csv, the PNGs, summary.md and report.html.

report.html is self-contained (the tables, and every figure as a base64 data URI; no script, no link): it opens
from the folder, a copy, or an e-mail attachment.
"""
import base64
import html
import re
from pathlib import Path

from reslab.sweep.compare import comparison_section
from reslab.sweep.curves import LOSS_TARGET, has_time
from reslab.sweep.figures import write_figures
from reslab.sweep.jobs import Sweep, load_sweep
from reslab.sweep.mechanisms import mechanisms_section
from reslab.sweep.tables import Section, results, time_to_target_section, unfinished, write_csv, write_curves_csv
from reslab.sweep.timing import fill_times

CAPTIONS = {"depth.png": "test metric and final training loss against depth (error bars: seed std)",
            "frontier.png": "cost frontier: test metric against params, FLOPs, throughput (95 % intervals; "
                            "ringed: Pareto-optimal)"}


def sections(sweep: Sweep, target: float | None, loss_target: float) -> list[Section]:
    found = [results(sweep), comparison_section(sweep),
             time_to_target_section(sweep, target, loss_target, has_time(sweep)), unfinished(sweep)]
    return [section for section in found if section is not None]


def _md_table(section: Section) -> list[str]:
    if not section.header:
        return []
    lines = ["| " + " | ".join(section.header) + " |", "|" + "|".join("---" for _ in section.header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in section.rows]


def markdown(sweep: Sweep, parts: list[Section], figures: list[str]) -> str:
    lines = [f"# Sweep summary: {sweep.folder.name}"]
    for section in parts:
        lines += [""] + ([f"## {section.title}", ""] if section.title else [])
        lines += [text for paragraph in section.text for text in (paragraph, "")]
        lines += _md_table(section)
    if figures:
        lines += ["", "## Figures", "", *(f"![{name}]({name})" for name in figures)]
    return "\n".join(lines) + "\n"


def _inline(text: str) -> str:
    """Escaped text with the markdown this summary uses: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:left}th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;
border:1px solid #eee;margin:.5em 0}code{background:#f4f4f4;padding:0 .2em}figure{margin:1em 0}
figcaption{color:#555;font-size:.9em}p{max-width:80em;line-height:1.4}"""


def report_html(sweep: Sweep, parts: list[Section], figures: list[str]) -> str:
    title = f"Sweep summary: {sweep.folder.name}"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
           f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
           f"<p>Folder: <code>{html.escape(str(sweep.folder.resolve()))}</code></p>"]
    for section in parts:
        if section.title:
            out.append(f"<h2>{_inline(section.title)}</h2>")
        out += [f"<p>{_inline(paragraph)}</p>" for paragraph in section.text]
        if section.header:
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in section.header)
                       + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>" for row in section.rows]
            out.append("</tbody></table>")
    if figures:
        out.append("<h2>Figures</h2>")
    for name in figures:
        data = base64.b64encode((sweep.folder / name).read_bytes()).decode("ascii")
        caption = html.escape(CAPTIONS.get(name, name.removesuffix(".png").replace("_", " ")))
        out.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{html.escape(name)}: {caption}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def summarize(folder: Path, target: float | None = None, loss_target: float | None = None) -> Path:
    """Write summary.csv, curves.csv, the PNG figures, summary.md and report.html into the sweep folder; returns
    summary.md's path. `target`: the validation metric a job must reach for time-to-target; None takes the
    sweep's `summary.target` (.hydra/config.yaml of its jobs), else 99 % of the baseline's at the same settings.
    `loss_target` (default `summary.loss_target`, else 1): the training loss to fall below."""
    sweep = load_sweep(Path(folder))
    fill_times(sweep)
    target = target if target is not None else sweep.setting("target")
    loss_target = loss_target if loss_target is not None else float(sweep.setting("loss_target", LOSS_TARGET))
    write_csv(sweep, sweep.folder / "summary.csv", target, loss_target)
    write_curves_csv(sweep, sweep.folder / "curves.csv")
    figures = write_figures(sweep)
    parts = sections(sweep, target, loss_target)
    path = sweep.folder / "summary.md"
    mech_md, mech_html, _ = mechanisms_section(sweep, sweep.folder)  # lesions, path lengths, signal, CKA figures
    path.write_text(markdown(sweep, parts, figures) + mech_md)
    page = report_html(sweep, parts, figures)
    (sweep.folder / "report.html").write_text(page.replace("</body>", mech_html + "</body>"))
    return path
