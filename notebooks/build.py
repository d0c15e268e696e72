"""Builds notebooks/NAME.ipynb from notebooks/src/NAME.md and runs it with the retort kernel.

A source is Markdown; fenced blocks marked ```retort are code cells, everything else is prose.
The prose states no result: numbers are computed in the cells and printed there. Run through
scripts/notebooks, which installs the release build's kernelspec first.
"""

import pathlib
import re
import sys
import time

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
FENCE = re.compile(r"^```retort\n(.*?)^```\n", re.S | re.M)


def cells(text):
    out, last = [], 0
    for match in FENCE.finditer(text):
        prose = text[last:match.start()].strip()
        if prose:
            out.append(nbformat.v4.new_markdown_cell(prose))
        out.append(nbformat.v4.new_code_cell(match.group(1).rstrip("\n")))
        last = match.end()
    tail = text[last:].strip()
    if tail:
        out.append(nbformat.v4.new_markdown_cell(tail))
    return out


def build(source):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells(source.read_text())
    notebook.metadata["kernelspec"] = {"name": "retort", "display_name": "Retort", "language": "retort"}
    started = time.monotonic()
    # The kernel runs in the notebook's folder, as JupyterLab starts it, so a lesson reads files
    # by paths relative to notebooks/.
    client = NotebookClient(
        notebook, kernel_name="retort", timeout=300, allow_errors=False, resources={"metadata": {"path": str(HERE)}})
    client.execute()
    # What the kernel reported (language_info) stays in the metadata, so opening the notebook in
    # JupyterLab does not mark it modified.
    target = HERE / (source.stem + ".ipynb")
    nbformat.write(notebook, target)
    print(f"{target.relative_to(HERE.parent)}: {len(notebook.cells)} cells in {time.monotonic() - started:.1f} s")


def main(names):
    sources = sorted((HERE / "src").glob("*.md"))
    if names:
        sources = [s for s in sources if s.stem in names]
    for source in sources:
        build(source)


if __name__ == "__main__":
    main(sys.argv[1:])
