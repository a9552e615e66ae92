"""report.html opened in headless Chromium as a reader opens it: every figure decodes, nothing reaches past the
page's width (wide tables scroll inside their box), no error; the screenshot is left in the test's folder."""
import pytest

from browser import check_page
from fake_sweep import write_sweep
from reslab.sweep.report import summarize

SWEEPS = {  # the shapes of the presets: five orders x 2 seeds at one depth; four blocks x 3 seeds x 2 depths; 5 seeds
    "orders-2-seeds": dict(variants=("post", "bn_after_add", "relu_before_add", "relu_preact", "preact"),
                           seeds=(0, 1), depths=(56,), key="model.order", equal_cost=True),
    "blocks-3-seeds": dict(seeds=(0, 1, 2), depths=(20, 56)),
    "blocks-5-seeds": dict(variants=("plain", "noshortcut"), seeds=(0, 1, 2, 3, 4), depths=(20,)),
}
SLOW = {"blocks-5-seeds"}  # the same page with more seeds: run with -m slow


@pytest.mark.parametrize("shape", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in SWEEPS])
def test_report_reads_in_a_real_browser(tmp_path, shape):
    folder = write_sweep(tmp_path / "sweep", **SWEEPS[shape])
    summarize(folder)
    pngs = sorted(folder.glob("*.png"))
    seen = check_page(folder / "report.html", tmp_path)
    assert seen["images"] == len(pngs) >= 3 and seen["undecoded"] == []  # every figure decoded
    assert seen["overflowing"] == [] and seen["scrollWidth"] <= seen["clientWidth"]  # nothing past the width
    assert seen["errors"] == []
    assert seen["screenshot"] is not None and seen["screenshot"].stat().st_size > 10_000


def test_the_browser_check_sees_what_it_must_catch(tmp_path):
    """The probe itself, on a page with each fault: an image that does not decode, a table wider than the page
    outside a scrolling box (and one inside, which is fine), a script error."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    '<img alt="broken" src="data:image/png;base64,AAAA">'
                    '<table style="width:3000px"><tr><td>wide</td></tr></table>'
                    '<div style="overflow-x:auto"><table style="width:3000px"><tr><td>scrolls</td></tr></table></div>'
                    "<script>console.error('boom')</script></body></html>")
    seen = check_page(page, tmp_path)
    assert seen["undecoded"] == ["broken"] and seen["errors"] and "boom" in " ".join(seen["errors"])
    assert any(tag.startswith("TABLE:wide") for tag in seen["overflowing"])
    assert not any("scrolls" in tag for tag in seen["overflowing"]) and seen["scrollWidth"] > seen["clientWidth"]
