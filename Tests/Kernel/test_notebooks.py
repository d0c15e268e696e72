"""Every notebook in notebooks/ runs headless through nbclient against the installed retort kernel."""

import base64
import os
import pathlib
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient

# A guard against a hung cell, not a speed test: any one cell gets this many seconds. scripts/test
# runs the lessons with the release build, where a whole lesson takes 1.4 to 95 s (scripts/notebooks
# reports each; the longest cell, lesson 7's five trainings, about 75 s), so only a cell that stopped
# making progress comes near it, however loaded the machine.
CELL_BUDGET = 120
REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Lessons whose `!python` cells need onnxruntime and PyTorch.
NEED_TORCH = {"08-leaving-retort.ipynb"}


def torch_tools_on_path():
    """Puts the venv of scripts/torch-venv (PyTorch, onnxruntime) first on PATH, which the kernels
    inherit, as a user starts JupyterLab from it; the reason when it cannot be made, else None."""
    made = subprocess.run([str(REPO / "scripts" / "torch-venv")], capture_output=True, text=True)
    if made.returncode != 0:
        return "scripts/torch-venv could not make the PyTorch venv: " + made.stderr.strip()[-300:]
    os.environ["PATH"] = str(pathlib.Path(made.stdout.strip()).parent) + os.pathsep + os.environ["PATH"]
    return None


NO_TORCH = torch_tools_on_path()


# Each lesson runs once: the second test saves and reopens what the first ran (the language-model
# lesson alone takes a minute and a half).
EXECUTED = {}


def execute(notebook, path):
    """Runs every cell in the notebook's folder, as JupyterLab runs it: lessons read files relative
    to notebooks/."""
    NotebookClient(
        notebook, kernel_name="retort", timeout=CELL_BUDGET, allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}}).execute()


def needs(path):
    if path.name in NEED_TORCH and NO_TORCH:
        pytest.skip(f"SKIPPED {path.name}: {NO_TORCH}")


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb files"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path):
    needs(path)
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "retort"
    # Committed with the outputs and metadata the kernel reports, so it renders without running and
    # opening it does not mark it modified.
    committed = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert committed, f"{path.name} is committed without outputs (run scripts/notebooks)"
    assert notebook.metadata["language_info"]["codemirror_mode"] == "julia"
    for output in committed:
        if "image/svg+xml" in output.get("data", {}):
            assert "image/png" in output.data, f"a committed plot in {path.name} has SVG but no PNG"
    execute(notebook, path)
    EXECUTED[path.name] = notebook
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert pictures, f"{path.name} shows no plot"
    for picture in pictures:
        assert base64.b64decode(picture)[:4] == b"\x89PNG"
    for output in outputs:
        if "image/svg+xml" in output.get("data", {}):
            assert output.data["image/svg+xml"].lstrip().startswith("<?xml")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_saved_notebook_shows_its_plots_when_reopened(path, tmp_path):
    """Run, save, reopen untrusted (as a user opening a committed notebook would): every plot keeps
    a PNG, which JupyterLab shows where it will not render an untrusted SVG."""
    needs(path)
    notebook = EXECUTED.get(path.name)
    if notebook is None:
        notebook = nbformat.read(path, as_version=4)
        execute(notebook, path)
    saved = tmp_path / path.name
    nbformat.write(notebook, saved)
    reopened = nbformat.read(saved, as_version=4)
    nbformat.validate(reopened)
    for cell in reopened.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/svg+xml" in data:
                assert "image/png" in data, f"a plot in {path.name} has SVG but no PNG"
                assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"
