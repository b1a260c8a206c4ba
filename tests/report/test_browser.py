"""Open the report in headless Chromium: tables and images render, nothing is fetched, no console
errors, and a screenshot is taken. Skipped (with the reason) where no Chromium is installed;
``scripts/ensure-chromium.sh`` installs Debian's ``chromium``."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Injected into a copy of the report: records broken images and errors into <body data-*>, then
#: logs one marker line so the test knows console logging reached stderr.
PROBE = """<script>
(function(){var errors=[];
window.addEventListener('error',function(e){errors.push(String(e.message||(e.target&&e.target.src)||e.type).slice(0,80));},true);
var original=console.error;console.error=function(){errors.push(Array.prototype.join.call(arguments,' '));original.apply(console,arguments);};
window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);
document.body.setAttribute('data-images-ok',imgs.filter(function(i){return i.complete&&i.naturalWidth>0;}).length+'/'+imgs.length);
document.body.setAttribute('data-errors',String(errors.length));
console.log('g2d-probe '+errors.join(' | '));});})();
</script>"""


#: Injected into a copy of the report: the layout as the browser laid it out, into <body data-*>.
LAYOUT = """<script>
window.addEventListener('load',function(){var vw=window.innerWidth,imgs=Array.prototype.slice.call(document.images);
var widest=Math.max.apply(null,imgs.map(function(i){return i.getBoundingClientRect().width;}));
var over=imgs.filter(function(i){var r=i.closest('figure').getBoundingClientRect();return r.right>vw+1;}).length;
var h=document.querySelector('p.headline');
parent.postMessage(JSON.stringify({viewport:vw,widest:widest,
 page:document.documentElement.scrollWidth,figures_past_edge:over,
 headline_top:h?h.getBoundingClientRect().top:-1,first_section_top:document.querySelector('h2').getBoundingClientRect().top}),'*');});
</script>"""
#: Headless Chromium's window is at least 500 px wide, so a phone's viewport is an iframe of that width;
#: the report inside posts its layout to this page, which records it for --dump-dom.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<script>window.addEventListener('message',function(e){document.body.setAttribute('data-layout',e.data);});</script>
<iframe src="SRC" style="width:WIDTHpx;height:2000px;border:0;display:block"></iframe></body></html>"""


def chromium() -> str | None:
    override = os.environ.get("G2D_CHROMIUM")
    return override if override else next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def run_chromium(binary: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not found (install Debian's chromium: "
                                                "scripts/ensure-chromium.sh, or set G2D_CHROMIUM)")
def test_report_renders_in_headless_chromium(built_report, tmp_path):
    _, out = built_report
    page = out.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    binary = chromium()

    dom = run_chromium(binary, probed.as_uri(), tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    n_img = page.count("<img ")
    assert f'data-images-ok="{n_img}/{n_img}"' in dom.stdout, "some embedded figure did not decode"
    assert 'data-errors="0"' in dom.stdout
    assert dom.stdout.count("<table") == page.count("<table") >= 8
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert any("g2d-probe" in line for line in console), "console logging did not reach stderr"
    assert [line for line in console if "g2d-probe" not in line] == [], "the page logged to the console"
    assert not re.search(r"net::ERR_|Failed to load resource|Not allowed to load", dom.stderr)

    shot = tmp_path / "report.png"
    done = run_chromium(binary, out.as_uri(), tmp_path / "profile2", f"--screenshot={shot}",
                        "--window-size=1400,2400")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1400) and float(pixels[..., :3].std()) > 0.05  # not a blank page


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not found (install Debian's chromium: "
                                                "scripts/ensure-chromium.sh, or set G2D_CHROMIUM)")
@pytest.mark.parametrize("width", [1400, 390])
def test_report_layout_uses_the_page_on_a_desktop_and_fits_a_phone(built_report, tmp_path, width):
    """At 1400 px the widest figure fills most of the page (it sat in a third of it before); at a
    phone's 390 px nothing widens the page (wide figures and tables scroll in their own box), and
    the one-line summary comes before the first section."""
    import json

    _, out = built_report
    probed = tmp_path / "layout.html"
    probed.write_text(out.read_text().replace("<head>", "<head>" + LAYOUT, 1))
    frame = tmp_path / "frame.html"
    frame.write_text(FRAME.replace("SRC", probed.name).replace("WIDTH", str(width)))
    dom = run_chromium(chromium(), frame.as_uri(), tmp_path / "profile", "--dump-dom",
                       f"--window-size={max(width, 500) + 40},2100")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-layout="([^"]*)"', dom.stdout)
    assert found, "the layout probe did not run"
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["viewport"] == width
    assert layout["page"] <= width  # no horizontal scrolling of the page itself
    assert layout["figures_past_edge"] == 0
    assert 0 <= layout["headline_top"] < layout["first_section_top"]
    if width >= 1000:
        assert layout["widest"] >= 0.85 * width
    else:
        assert layout["widest"] >= 0.8 * width  # readable: at least the screen's width, scrolled sideways
