"""The built book as a reader sees it: every chapter page opened in headless Chromium, offline.

Needs the built site (`make book` writes _build/html; VQLIT_HTML names another) and Debian's
`chromium`. Where either is missing the tests skip and say so, unless VQLIT_REQUIRE_BROWSER=1
(set by .ci/run), which turns a skip into a failure.

Each page is copied with a small probe script appended. After the page has loaded and MathJax has
typeset it, the probe writes what it found into the DOM, which `chromium --dump-dom` prints. All
network access is sent to a dead proxy, so anything fetched from outside the site fails to load.
"""
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("VQLIT_HTML", ROOT / "_build" / "html"))
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """
<script>
(function () {
  function report(extra) {
    document.querySelectorAll("details").forEach((d) => { d.open = true; });  // collapsed cells too
    const visible = document.body.cloneNode(true);
    visible.querySelectorAll("script, style, pre, code, mjx-container, .highlight").forEach(
      (e) => e.remove());
    const pre = [...document.querySelectorAll("div.cell pre")];
    const result = {
      mathjax: typeof MathJax !== "undefined" && !!MathJax.startup,
      typeset: document.querySelectorAll("mjx-container").length,
      text: visible.textContent,
      all_text: document.body.textContent,
      directives: pre.filter((e) => e.textContent.startsWith("#|")).length,
      labels: [...document.querySelectorAll("p.vqlit-export-label")].map((e) => e.textContent),
      images: [...document.images].map((i) => [i.getAttribute("src"), i.complete, i.naturalWidth]),
      errors: document.querySelectorAll(
        ".cell_output .traceback, .cell_output .highlight-ipythontb, .output.error").length,
      pasted: [...document.querySelectorAll(".pasted-text, .pasted-inline")].map(
        (e) => e.textContent.trim()),
      links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
      anchors: [...document.querySelectorAll("dt[id]")].map((e) => e.id),
      cut: pre.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.slice(0, 80)),
      ...extra,
    };
    const out = document.createElement("pre");
    out.id = "vqlit-probe";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  }
  window.addEventListener("load", () => {
    const ready = (typeof MathJax !== "undefined" && MathJax.startup && MathJax.startup.promise)
      || Promise.resolve();
    ready.then(() => report({}), (err) => report({mathjax_error: String(err)}));
  });
})();
</script>
"""


def _missing(why: str):
    if os.environ.get("VQLIT_REQUIRE_BROWSER") == "1":
        pytest.fail(why + " (VQLIT_REQUIRE_BROWSER=1 requires this check)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not (HTML / "index.html").is_file():
        _missing(f"the book is not built ({HTML} has no index.html): run `make book` first")
    if BROWSER is None:
        _missing("headless Chromium is not installed (Debian: apt install chromium)")
    copy = tmp_path_factory.mktemp("site") / "html"
    shutil.copytree(HTML, copy)
    return copy


def open_page(site: Path, page: Path, tmp_path: Path) -> dict:
    """Load a copy of `page` (with the probe) in headless Chromium, offline; the probe's findings."""
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--allow-file-access-from-files", "--window-size=1280,900",
               "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=30000",
               "--dump-dom", probed.as_uri()]
    run = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=180)
    found = re.search(r'<pre id="vqlit-probe"[^>]*>(.*?)</pre>', run.stdout, re.S)
    assert found, f"{page.name}: the probe did not report (chromium said: {run.stderr[-2000:]})"
    return json.loads(html.unescape(found.group(1)))


def exported_cells_shown(chapter: Path) -> int:
    """Cells of the chapter that start with `#| export` and whose source the page shows."""
    return sum(1 for cell in jupytext.read(chapter).cells
               if cell.cell_type == "code" and cell.source.startswith("#| export")
               and not {"remove-cell", "remove-input"} & set(cell.metadata.get("tags", [])))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_as_a_reader_sees_it(site, chapter, tmp_path):
    report = open_page(site, site / "book" / "chapters" / f"{chapter.stem}.html", tmp_path)
    source = chapter.read_text()
    # Math: typeset by the MathJax copied into the site, and no raw TeX left in the text.
    if "$" in source:
        assert report["mathjax"], f"{chapter.stem}: MathJax did not load"
        assert "mathjax_error" not in report, report.get("mathjax_error")
        assert report["typeset"] > 0, f"{chapter.stem}: no typeset math"
    raw = [m.group(0) for m in re.finditer(r"\\\(|\\\[|\$\$", report["text"])]
    assert not raw, f"{chapter.stem}: raw TeX in the visible text: {raw[:5]}"
    # Figures: every image has loaded.
    broken = [src for src, complete, width in report["images"] if not (complete and width > 0)]
    assert not broken, f"{chapter.stem}: images that did not load: {broken}"
    # No output cell shows an error.
    assert report["errors"] == 0, f"{chapter.stem}: {report['errors']} error outputs"
    assert "Traceback (most recent call last)" not in report["all_text"]
    # The glued numbers are there: one pasted value per reference in the prose, none empty.
    wanted = len(re.findall(r"\{glue(?::\w*)?\}`", source))
    assert len(report["pasted"]) >= wanted and all(report["pasted"]), (wanted, report["pasted"])
    # The launch link opens this chapter's notebook in Colab, from the repository in _config.yml;
    # a page that runs in a checkout only has no Colab notebook and offers no launch link.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = urlparse(config["repository"]["url"]).path.strip("/")
    colab = (f"{config['launch_buttons']['colab_url']}/github/{repo}/blob/"
             f"{config['repository']['branch']}/book/chapters/{chapter.stem}.ipynb")
    if chapter.with_suffix(".ipynb").exists():
        assert colab in report["links"], f"{chapter.stem}: no launch link to {colab}"
    else:
        assert not [u for u in report["links"] if "colab.research.google.com" in u], chapter.stem
    # Exported cells: no `#|` directive left in the code, one label per cell naming its module.
    assert report["directives"] == 0, f"{chapter.stem}: {report['directives']} cells show `#|`"
    assert len(report["labels"]) == exported_cells_shown(chapter), report["labels"]
    assert all(re.fullmatch(r"exported to vqlit\.\w+", t) for t in report["labels"]), report["labels"]
    # No code line is cut off at the column edge (collapsed cells opened first).
    assert not report["cut"], f"{chapter.stem}: code that overflows its box: {report['cut'][:3]}"


def test_api_reference_page(site, tmp_path):
    report = open_page(site, site / "book" / "api.html", tmp_path)
    for name in ("vq.VectorQuantizer", "soft.BayesianQuantizer", "wasserstein.WassersteinQuantizer",
                 "optvq.SinkhornQuantizer", "data.load_dataset", "train.fit"):
        assert f"vqlit.{name}" in report["anchors"], f"the API page does not document {name}"
