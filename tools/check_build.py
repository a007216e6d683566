"""Check the built book: every chapter page exists, links to its Colab notebook (none for a page
that runs in a checkout only or has no code cells), and shows its figures.

    python tools/check_build.py _build/html
    python tools/check_build.py --screens _build/html       # every page of the book
    python tools/check_build.py --screens path/to/page.html   # chosen pages (one-page builds too)

Jupyter Book's strict build (-W) already fails on a failing cell or a missing glued value; this
checks what a reader sees on top of that. `--screens` opens each page in headless Chromium at
1400x900 and prints "<page> <screens>" (the document's height over 900 px, collapsed cells
closed); it exits 1 if a page is longer than 15 screens. tests/test_rendered_book.py probes the
pages with `browse` as well.
"""
import argparse
import ast
import html as html_lib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import jupytext
import yaml

ROOT = Path(__file__).resolve().parent.parent
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT, MAX_SCREENS = 1400, 900, 15     # the reader's window; the longest page, in windows

# Appended to a page: once it has loaded and MathJax has typeset it, writes its height (collapsed
# cells closed, as a reader first sees it) into the DOM, which `chromium --dump-dom` prints.
SCREENS_PROBE = """
<script>
window.addEventListener("load", () => {
  const ready = (typeof MathJax !== "undefined" && MathJax.startup && MathJax.startup.promise)
    || Promise.resolve();
  const report = () => {
    const out = document.createElement("pre");
    out.id = "vqlit-probe";
    out.textContent = JSON.stringify({height: document.documentElement.scrollHeight});
    document.body.appendChild(out);
  };
  ready.then(report, report);
});
</script>
"""


def has_code_cells(source: Path) -> bool:
    """Whether a page's Markdown source holds any code cell (a plain Markdown page holds none)."""
    return re.search(r"^(`{3,}|~{3,})\s*\{code-cell\}", source.read_text(encoding="utf-8"),
                     re.M) is not None


def offers_colab(source: Path) -> bool:
    """A page offers a Colab launch button only if tools/export.py made its notebook (not for a page
    with `vqlit: {colab: false}`) and it has code to run (not for a plain Markdown index page)."""
    return source.with_suffix(".ipynb").exists() and has_code_cells(source)


def book_pages(html: Path) -> list[Path]:
    """Every built page of the book: book/*.html and book/chapters/*.html (not search, genindex)."""
    return sorted(p for p in (html / "book").rglob("*.html") if not p.name.endswith(".probe.html"))


def browse(page: Path, script: str, profile: Path) -> dict:
    """Open `page` with `script` appended in headless Chromium at WIDTH x HEIGHT, offline (all
    network access goes to a dead proxy); the JSON the script wrote into <pre id="vqlit-probe">.
    The probed copy is written beside the page (relative links keep working) and removed after."""
    if BROWSER is None:
        raise RuntimeError("headless Chromium is not installed (Debian: apt install chromium)")
    page = page.resolve()
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"),
                      encoding="utf-8")
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--allow-file-access-from-files", "--hide-scrollbars",
               f"--window-size={WIDTH},{HEIGHT}", "--proxy-server=127.0.0.1:9",
               "--proxy-bypass-list=<-loopback>", f"--user-data-dir={profile}",
               "--virtual-time-budget=30000", "--dump-dom", probed.as_uri()]
    try:
        run = subprocess.run(command, capture_output=True, text=True, encoding="utf-8",
                             timeout=180)
    finally:
        probed.unlink(missing_ok=True)
    found = re.search(r'<pre id="vqlit-probe"[^>]*>(.*?)</pre>', run.stdout, re.S)
    if not found:
        raise RuntimeError(f"{page.name}: the probe did not report "
                           f"(chromium: {run.stderr[-2000:]})")
    return json.loads(html_lib.unescape(found.group(1)))


def screens(page: Path, profile: Path) -> float:
    """The page's height in screens of HEIGHT px, at a window WIDTH px wide."""
    return browse(page, SCREENS_PROBE, profile)["height"] / HEIGHT


def main_screens(targets: list[str]) -> int:
    pages = []
    for target in targets or ["_build/html"]:
        path = Path(target)
        pages += book_pages(path) if path.is_dir() else [path]
    if not pages:
        print(f"check_build: no pages in {' '.join(targets)}", file=sys.stderr)
        return 1
    too_long = []
    with tempfile.TemporaryDirectory() as profile:
        for page in pages:
            n = screens(page, Path(profile))
            for base in map(Path, targets):
                if base.is_dir() and base in page.parents:
                    name = page.relative_to(base).as_posix()
                    break
            else:
                name = page.as_posix()
            print(f"{name} {n:.1f}", flush=True)
            if n > MAX_SCREENS:
                too_long.append(name)
    if too_long:
        print(f"check_build: longer than {MAX_SCREENS} screens at {WIDTH}x{HEIGHT}: "
              f"{', '.join(too_long)}", file=sys.stderr)
    return 1 if too_long else 0


def figures_drawn(chapter: Path) -> int:
    """plt.show() calls a reader should see: at a cell's top level (not inside a function that only
    an interactive widget calls), in cells whose output is shown."""
    count = 0
    for cell in jupytext.read(chapter).cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & {"remove-output", "remove-cell"}:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:                    # IPython magics: count the text instead
            count += cell.source.count("plt.show()")
            continue
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.Lambda))
                  for n in ast.walk(f)}
        count += sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call) and id(n) not in inside
                     and ast.unparse(n.func) == "plt.show")
    return count


def main(html_dir: str) -> int:
    html = Path(html_dir)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    owner_repo = urlparse(config["repository"]["url"]).path.strip("/")
    branch = config["repository"].get("branch", "main")
    problems = []
    if not (html / "_static" / "mathjax" / "tex-chtml.js").is_file():    # sphinx-mathjax-offline
        problems.append("MathJax is not in the site (_static/mathjax): math would need a network")
    for chapter in sorted((ROOT / "book" / "chapters").glob("*.md")):
        page = html / "book" / "chapters" / f"{chapter.stem}.html"
        if not page.exists():
            problems.append(f"{page} is missing")
            continue
        text, source = page.read_text(), chapter.read_text()
        colab = (f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/"
                 f"book/chapters/{chapter.stem}.ipynb")
        offered = offers_colab(chapter)    # tools/export.py made its notebook, and it has code
        if offered and colab not in text:
            problems.append(f"{page.name}: no Colab link to {colab}")
        if not offered and "colab.research.google.com" in text:
            problems.append(f"{page.name}: has no Colab notebook or no code, "
                            "yet offers a Colab link")
        figures = len(re.findall(r'<img[^>]+src="[^"]*_images/', text))
        wanted = figures_drawn(chapter)
        if figures < wanted:
            problems.append(f"{page.name}: {figures} figures rendered, the chapter draws {wanted}")
        if "$$" in source and 'class="math' not in text:
            problems.append(f"{page.name}: no rendered equations")
        if re.search(r'<script[^>]+src="https?://[^"]*mathjax', text, re.I):
            problems.append(f"{page.name}: loads MathJax from the network")
        print(f"{page.name}: {'Colab link ok' if offered else 'no Colab link (none offered)'}, "
              f"{figures} figures")
    for problem in problems:
        print(f"check_build: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", action="store_true",
                        help=f"print each page's height in screens of {WIDTH}x{HEIGHT}; "
                             f"exit 1 if one exceeds {MAX_SCREENS}")
    parser.add_argument("paths", nargs="*", help="the built site (default _build/html), or pages")
    args = parser.parse_args()
    if args.screens:
        sys.exit(main_screens(args.paths))
    sys.exit(main(args.paths[0] if args.paths else "_build/html"))
