"""Check the built book: every chapter page exists, links to its Colab notebook (none for a page
that runs in a checkout only), and shows its figures.

    python tools/check_build.py _build/html

Jupyter Book's strict build (-W) already fails on a failing cell or a missing glued value; this checks
what a reader sees on top of that.
"""
import ast
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import jupytext
import yaml

ROOT = Path(__file__).resolve().parent.parent


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
        offered = chapter.with_suffix(".ipynb").exists()   # tools/export.py makes it, or not
        if offered and colab not in text:
            problems.append(f"{page.name}: no Colab link to {colab}")
        if not offered and "colab.research.google.com" in text:
            problems.append(f"{page.name}: runs in a checkout only, yet offers a Colab link")
        figures = len(re.findall(r'<img[^>]+src="[^"]*_images/', text))
        wanted = figures_drawn(chapter)
        if figures < wanted:
            problems.append(f"{page.name}: {figures} figures rendered, the chapter draws {wanted}")
        if "$$" in source and 'class="math' not in text:
            problems.append(f"{page.name}: no rendered equations")
        if re.search(r'<script[^>]+src="https?://[^"]*mathjax', text, re.I):
            problems.append(f"{page.name}: loads MathJax from the network")
        print(f"{page.name}: {'Colab link ok' if offered else 'no Colab link (checkout only)'}, "
              f"{figures} figures")
    for problem in problems:
        print(f"check_build: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_build/html"))
