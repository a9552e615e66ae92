"""A page opened in headless Chromium (Debian's `chromium` package, installed with apt-get when missing and the
tests run as root), as a reader would: `check_page(page, folder)` returns what the browser saw, and writes the
screenshot into `folder` for a person to look at.

The checks run inside the page: a copy of it gets a script at the top of its <head> that records errors (uncaught
exceptions, console.error, resources that fail to load) and, once loaded, writes into the DOM the images that did
not decode (natural width 0), the elements that reach past the page's width (outside a scrolling box) and the
page's scroll width; `chromium --dump-dom` prints that DOM. The report itself has no script: only the copy does.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WIDTH, HEIGHT = 1100, 2400
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message
  || (e.target && e.target.outerHTML || e.target)).slice(0, 120)), true);
const __error = console.error; console.error = (...a) => { window.__errors.push(a.join(" ")); __error(...a); };
window.addEventListener("load", () => {
  const width = document.documentElement.clientWidth;
  const inScroll = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX === "auto" || getComputedStyle(p).overflowX === "scroll") return true; }
    return false; };
  const images = [...document.images];
  const result = {
    images: images.length,
    undecoded: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    overflowing: [...document.body.querySelectorAll("*")].filter(el => !inScroll(el)
      && el.getBoundingClientRect().right > width + 1).map(el => el.tagName + ":" + (el.textContent || "")
      .slice(0, 40)),
    scrollWidth: document.documentElement.scrollWidth, clientWidth: width,
    errors: window.__errors,
  };
  const out = document.createElement("pre"); out.id = "reslab-check"; out.hidden = true;
  out.textContent = JSON.stringify(result); document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """The chromium binary; installed with apt-get when missing and root; else the test is skipped with why."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("headless Chromium is not installed and cannot be (apt-get install chromium needs root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"apt-get could not install chromium: {done.stderr.strip()[-300:]}")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium but it is not on PATH")


def _run(binary: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=10000", *arguments],
                          capture_output=True, text=True, timeout=180)


def check_page(page: Path, folder: Path) -> dict:
    """Open `page` in headless Chromium: {images, undecoded, overflowing, scrollWidth, clientWidth, errors}, and
    `folder`/screenshot.png (of the copy, which looks the same: the probe draws nothing)."""
    binary = chromium()
    probe = folder / f"probe_{page.name}"
    probe.write_text(re.sub("<head>", "<head>" + PROBE, page.read_text(), count=1))
    shot = folder / "screenshot.png"
    done = _run(binary, "--dump-dom", f"--screenshot={shot}", probe.resolve().as_uri())
    found = re.search(r'<pre id="reslab-check" hidden="">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium printed no check (rc {done.returncode}): {done.stderr[-1500:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
    result["screenshot"] = shot if shot.is_file() else None
    return result
