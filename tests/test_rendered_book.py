"""The built book as a reader sees it: every page of the book opened in headless Chromium, offline.

Needs the built site (`make book` writes _build/html; VQLIT_HTML names another) and Debian's
`chromium`. Where either is missing the tests skip and say so, unless VQLIT_REQUIRE_BROWSER=1
(set by .ci/run), which turns a skip into a failure.

Each page (book/index, book/api*, book/chapters/*, ...: every source page and every built page) is
copied with a small probe script appended and opened at 1400x900 (tools/check_build.py `browse`).
After the page has loaded and MathJax has typeset it, the probe measures the page and writes what
it found into the DOM, which `chromium --dump-dom` prints. All network access is sent to a dead
proxy, so anything fetched from outside the site fails to load. One test per rule and page, so a
failure names both:

* display equations fit their column; no raw TeX (`$`, `\\frac`, `\\,`, ...) in the visible text;
* every table row has as many cells as its header (and no Markdown table is left unrendered);
* every figure (image of a cell output or figure) is numbered, captioned and has real alt text;
* a page is at most 15 screens long (document height / 900 px, collapsed cells closed);
* no code line is cut off; images load; no error output; glued values, launch links and the
  labels of exported cells are there.
"""
import importlib.util
import itertools
import json
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_build  # noqa: E402  (tools/check_build.py: the browser, the screen size, Colab rule)

HTML = Path(os.environ.get("VQLIT_HTML", ROOT / "_build" / "html"))
BOOK = ROOT / "book"
BROWSER = check_build.BROWSER
MAX_SCREENS = check_build.MAX_SCREENS


def _pages() -> list[str]:
    """Every page of the book, as its path under book/ without suffix: each source page (built or
    not: a missing page fails) and each built page (also one whose source is gone)."""
    sources = {p.relative_to(BOOK).with_suffix("").as_posix()
               for p in [*BOOK.glob("*.md"), *(BOOK / "chapters").glob("*.md")]}
    built = {p.relative_to(HTML / "book").with_suffix("").as_posix()
             for p in check_build.book_pages(HTML)} if (HTML / "book").is_dir() else set()
    return sorted(sources | built)


PAGES = _pages()
CHAPTERS = [p for p in PAGES if p.startswith("chapters/") and (BOOK / f"{p}.md").exists()]

PROBE = """
<script>
(function () {
  const MATH_COMMANDS = /\\$|\\\\[A-Za-z]+|\\\\[,;:!{}()\\[\\]]/g;
  function snippet(text, at, length) {
    return text.slice(Math.max(0, at - 30), at + length + 30).replace(/\\s+/g, " ");
  }
  function rowWidths(table) {      // columns each row covers: colspans, and rowspans from above
    const covered = [];            // covered[c]: rows (this one included) that column c is taken
    return [...table.rows].map((row) => {
      let c = 0;
      for (const cell of row.cells) {
        while (covered[c] > 0) c++;
        for (let k = 0; k < cell.colSpan; k++) covered[c + k] = Math.max(cell.rowSpan, 1);
        c += cell.colSpan;
      }
      const width = covered.filter((n) => n > 0).length;
      for (let k = 0; k < covered.length; k++) covered[k] = Math.max(0, (covered[k] || 0) - 1);
      return width;
    });
  }
  function report(extra) {
    const height = document.documentElement.scrollHeight;   // as a reader first sees it
    document.querySelectorAll("details").forEach((d) => { d.open = true; });  // collapsed cells too
    const article = document.querySelector("article") || document.body;
    const visible = document.body.cloneNode(true);
    visible.querySelectorAll("script, style, pre, code, mjx-container, .highlight, textarea")
      .forEach((e) => e.remove());
    const visibleText = visible.textContent;
    const pre = [...document.querySelectorAll("div.cell pre")];
    const wideMath = [...document.querySelectorAll('mjx-container[display="true"]')].filter((c) => {
      const parent = c.parentElement;
      const width = Math.max(c.getBoundingClientRect().width,
        ...[...c.querySelectorAll(":scope > mjx-math")].map(
          (m) => m.getBoundingClientRect().width));
      return c.scrollWidth > c.clientWidth + 1 || parent.scrollWidth > parent.clientWidth + 1
        || width > parent.clientWidth + 1;
    }).map((c) => {
      const tex = (c.querySelector("mjx-assistive-mml") || c).textContent;
      return `${c.scrollWidth} px in a ${Math.min(c.clientWidth, parent.clientWidth)} px column: `
        + tex.slice(0, 60);
    });
    const tables = [];
    article.querySelectorAll("table").forEach((table, n) => {
      const widths = rowWidths(table);
      widths.forEach((w, i) => {
        if (w !== widths[0]) {
          tables.push(`table ${n + 1}, row ${i + 1}: ${w} cells, header ${widths[0]}: `
            + table.rows[i].textContent.trim().replace(/\\s+/g, " ").slice(0, 60));
        }
      });
    });
    article.querySelectorAll("p").forEach((p) => {     // a Markdown table left as a paragraph
      if (/\\|\\s*:?-{3,}:?\\s*\\|/.test(p.textContent)) {
        tables.push("unrendered Markdown table: " + p.textContent.trim().slice(0, 60));
      }
    });
    const figures = [...article.querySelectorAll(".cell_output img, figure img")].map((img) => {
      const src = img.getAttribute("src") || "";
      const alt = (img.getAttribute("alt") || "").trim();
      const figure = img.closest("figure");
      const caption = figure && figure.querySelector("figcaption");
      const number = caption && caption.querySelector(".caption-number");
      const text = caption ? caption.textContent.replace(number ? number.textContent : "", "") : "";
      const problems = [];
      if (!number || !/^\\s*(Fig\\.|Figure)\\s*\\d+(\\.\\d+)*/.test(number.textContent)) {
        problems.push("no figure number");
      }
      if (text.trim().length < 10) problems.push("no caption");
      if (alt.length < 10 || alt.split(/\\s+/).length < 3
          || /\\.(png|jpe?g|svg|gif|webp)$/i.test(alt) || /^[.\\/]|_images\\//.test(alt)) {
        problems.push(`alt text ${JSON.stringify(alt.slice(0, 50))}`);
      }
      const image = src.split("/").pop().slice(0, 16);
      return problems.length ? `${image}: ${problems.join(", ")}` : null;
    }).filter((x) => x);
    const tex = [];                // a shell variable ($VQLIT_DATA) is not TeX
    let last = -100;
    for (const m of visibleText.matchAll(MATH_COMMANDS)) {
      if (m[0] === "$" && /^\\$[A-Z][A-Z0-9]*_[A-Z0-9_]+/.test(visibleText.slice(m.index))) continue;
      if (m.index > last + 40) tex.push(snippet(visibleText, m.index, m[0].length));
      last = m.index;
    }
    const result = {
      mathjax: typeof MathJax !== "undefined" && !!MathJax.startup,
      typeset: document.querySelectorAll("mjx-container").length,
      height: height,
      window: [window.innerWidth, window.innerHeight],
      text: visibleText,
      tex: tex,
      wide_math: wideMath,
      tables: tables,
      figures: figures,
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
      cut: pre.filter((e) => e.scrollWidth > e.clientWidth + 1).map(
        (e) => e.textContent.slice(0, 80)),
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


@pytest.fixture(scope="module")
def reports(site, tmp_path_factory):
    """name -> the probe's findings on that page, each page opened once for all the rules."""
    found = {}
    profile = tmp_path_factory.mktemp("profile")

    def get(name: str) -> dict:
        if name not in found:
            page = site / "book" / f"{name}.html"
            if not page.is_file():
                pytest.fail(f"book/{name}.html is not built (rebuild the book: `make book`)")
            found[name] = open_page(page, profile)
        return found[name]
    return get


def open_page(page: Path, profile: Path) -> dict:
    """Load a copy of `page` (with the probe) in headless Chromium, offline: the probe's report."""
    return check_build.browse(page, PROBE, profile)


def exported_cells_shown(chapter: Path) -> int:
    """Cells of the chapter whose leading directives include `#| export` (a `#| default_exp` may
    come first) and whose source the page shows."""
    def directives(source):
        return [line.strip() for line in itertools.takewhile(
            lambda line: line.startswith("#|"), source.splitlines())]
    return sum(1 for cell in jupytext.read(chapter).cells
               if cell.cell_type == "code" and "#| export" in directives(cell.source)
               and not {"remove-cell", "remove-input"} & set(cell.metadata.get("tags", [])))


CELL_BAR = re.compile(r"(?<!\\)\|")        # a `|` that is not escaped as `\|`
DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def cells(line: str) -> int:
    """Cells of a Markdown table row: its unescaped bars, less the outer ones."""
    line = line.strip()
    return len(CELL_BAR.split(line[1 if line.startswith("|") else 0:
                                  -1 if line.endswith("|") and not line.endswith("\\|") else None]))


def markdown_texts(site: Path, name: str) -> list[str]:
    """The Markdown the page was rendered from: its prose and the Markdown its cells printed (the
    executed notebook Jupyter Book copies to _sources), or its .md where there is no notebook."""
    notebook = site / "_sources" / "book" / f"{name}.ipynb"
    if notebook.is_file():
        texts = []
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell["cell_type"] == "markdown":
                texts.append("".join(cell["source"]))
            elif cell["cell_type"] == "code" and not tags & {"remove-output", "remove-cell"}:
                texts += ["".join(o["data"]["text/markdown"]) for o in cell.get("outputs", [])
                          if "text/markdown" in o.get("data", {})]
        return texts
    for source in (site / "_sources" / "book" / f"{name}.md",
                   site / "_sources" / "book" / f"{name}.md.txt", BOOK / f"{name}.md"):
        if source.is_file():
            return [source.read_text(encoding="utf-8")]
    return []


def markdown_table_problems(text: str) -> list[str]:
    """Rows of the Markdown tables in `text` with more or fewer cells than their header (the
    renderer silently drops the extra cells and pads the missing ones: the table shows wrong
    columns). A `|` inside a cell, math `$|x|$` or code included, must be written `\\|`."""
    problems, fence, lines = [], None, text.split("\n")
    for i, line in enumerate(lines):
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if marker:
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1).startswith(fence):
                fence = None
            continue
        if fence is not None or i == 0 or "|" not in line + lines[i - 1] or "-" not in line:
            continue
        if not DELIMITER.match(line) or "|" not in lines[i - 1]:
            continue
        width = cells(lines[i - 1])
        for row in lines[i + 1:]:
            if not row.strip() or "|" not in row:
                break
            if cells(row) != width:
                problems.append(f"{cells(row)} cells, header {width}: {row.strip()[:70]}")
    return problems


def show(items: list, n: int = 5) -> str:
    return json.dumps(items[:n], ensure_ascii=False, indent=1) + (
        f"\n... and {len(items) - n} more" if len(items) > n else "")


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors(reports, name):
    report = reports(name)
    built = HTML / "book" / f"{name}.html"
    if built.exists() and 'class="math' in built.read_text(encoding="utf-8"):   # a page with math
        assert report["mathjax"], f"{name}: MathJax did not load"
        assert "mathjax_error" not in report, report.get("mathjax_error")
        assert report["typeset"] > 0, f"{name}: no typeset math"
    broken = [src for src, complete, width in report["images"] if not (complete and width > 0)]
    assert not broken, f"{name}: images that did not load: {broken}"
    assert report["errors"] == 0, f"{name}: {report['errors']} error outputs"
    assert "Traceback (most recent call last)" not in report["all_text"]


@pytest.mark.parametrize("name", PAGES)
def test_display_math_fits_its_column(reports, name):
    wide = reports(name)["wide_math"]
    assert not wide, (f"{name}: {len(wide)} display equations wider than the text column (split "
                      f"them with aligned or \\\\):\n{show(wide)}")


@pytest.mark.parametrize("name", PAGES)
def test_no_raw_tex_in_the_text(reports, name):
    raw = reports(name)["tex"]
    assert not raw, f"{name}: {len(raw)} pieces of raw TeX in the visible text:\n{show(raw)}"


@pytest.mark.parametrize("name", PAGES)
def test_table_rows_match_their_header(site, reports, name):
    bad = reports(name)["tables"] + [problem for text in markdown_texts(site, name)
                                     for problem in markdown_table_problems(text)]
    assert not bad, f"{name}: {len(bad)} table rows unlike their header:\n{show(bad)}"


@pytest.mark.parametrize("name", PAGES)
def test_figures_are_numbered_captioned_and_described(reports, name):
    bad = reports(name)["figures"]
    assert not bad, (f"{name}: {len(bad)} figures without a number, a caption or alt text "
                     f"(mystnb: figure: caption/name, image: alt):\n{show(bad)}")


@pytest.mark.parametrize("name", PAGES)
def test_page_is_at_most_15_screens(reports, name):
    report = reports(name)
    screens = report["height"] / check_build.HEIGHT
    assert screens <= MAX_SCREENS, (
        f"{name}: {screens:.1f} screens at {check_build.WIDTH}x{check_build.HEIGHT} "
        f"(window {report['window']}), more than {MAX_SCREENS}: split the page")


@pytest.mark.parametrize("name", PAGES)
def test_no_code_line_is_cut_off(reports, name):
    cut = reports(name)["cut"]     # collapsed cells opened first
    assert not cut, f"{name}: code that overflows its box: {cut[:3]}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_page_as_a_reader_sees_it(reports, name):
    report, chapter = reports(name), BOOK / f"{name}.md"
    source = chapter.read_text()
    # The glued numbers are there: one pasted value per reference in the prose, none empty.
    wanted = len(re.findall(r"\{glue(?::\w*)?\}`", source))
    assert len(report["pasted"]) >= wanted and all(report["pasted"]), (wanted, report["pasted"])
    # The launch link opens this chapter's notebook in Colab, from the repository in _config.yml;
    # a page that runs in a checkout only (no Colab notebook), or a plain Markdown page without
    # code cells (a chapter's index page), offers no launch link.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = urlparse(config["repository"]["url"]).path.strip("/")
    colab = (f"{config['launch_buttons']['colab_url']}/github/{repo}/blob/"
             f"{config['repository']['branch']}/book/{name}.ipynb")
    if check_build.offers_colab(chapter):
        assert colab in report["links"], f"{name}: no launch link to {colab}"
    else:
        assert not [u for u in report["links"] if "colab.research.google.com" in u], name
    # Exported cells: no `#|` directive left in the code, one label per cell naming its module.
    assert report["directives"] == 0, f"{name}: {report['directives']} cells show `#|`"
    assert len(report["labels"]) == exported_cells_shown(chapter), report["labels"]
    labels = report["labels"]
    assert all(re.fullmatch(r"exported to vqlit\.\w+", t) for t in labels), labels


@pytest.mark.parametrize("name", ["vq.VectorQuantizer", "soft.BayesianQuantizer",
                                  "wasserstein.WassersteinQuantizer", "optvq.SinkhornQuantizer",
                                  "data.load_dataset", "train.fit"])
def test_api_reference_page(reports, name):
    """Each module has its reference page (book/api/<module>), which documents its objects."""
    module = name.split(".")[0]
    assert f"vqlit.{name}" in reports(f"api/{module}")["anchors"], \
        f"book/api/{module} does not document vqlit.{name}"


def test_equation_numbers_match_the_exporter(site):
    """Sources cite equations by label; tools/export.py turns a citation into the number the page
    prints (in the package's docstrings, the Colab copies and the code shown on the pages). Its
    numbering must be the one Sphinx printed: every labelled equation of the built book, compared."""
    spec = importlib.util.spec_from_file_location("vqlit_exporter", ROOT / "tools" / "export.py")
    export = importlib.util.module_from_spec(spec)      # this checkout's tools/export.py, by path
    sys.modules[spec.name] = export                     # (its dataclasses look their module up)
    spec.loader.exec_module(export)
    expected = export.equation_numbers()
    printed = {}
    for page in check_build.book_pages(site):
        found = re.findall(r'id="equation-([\w-]+)"[^>]*>.*?<span class="eqno">\(([^)]*)\)',
                           page.read_text(encoding="utf-8"), re.S)
        printed.update(found)
    assert printed, "no numbered equation in the built book"
    wrong = {label: (number, expected.get(label)) for label, number in printed.items()
             if expected.get(label) != number}
    assert not wrong, f"label: (printed, tools/export.py's) {wrong}"
    cited = [(page.name, m) for page in check_build.book_pages(site)
             for m in re.findall(r"Eqs?\.\s*\(([a-z][\w-]*-[\w-]*)\)", page.read_text(encoding="utf-8"))
             if m in expected]
    assert not cited, f"pages show an equation's label where its number belongs: {cited[:5]}"
