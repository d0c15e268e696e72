"""Every notebook in notebooks/ runs headless through nbclient against the installed retort kernel."""

import base64
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "retort"
    NotebookClient(notebook, kernel_name="retort", timeout=600, allow_errors=False).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert pictures, f"{path.name} shows no plot"
    for picture in pictures:
        assert base64.b64decode(picture)[:4] == b"\x89PNG"
    for output in outputs:
        if "image/svg+xml" in output.get("data", {}):
            assert output.data["image/svg+xml"].lstrip().startswith("<?xml")
