"""The notebook in a real browser: JupyterLab on loopback with the installed retort kernel, driven
by Playwright in headless Chromium (Debian's `chromium`, launched by path; nothing is downloaded).

It opens the distillation lesson, runs every cell, and checks that plots appear as images, that no
cell shows an error, and that the live training plot is updated in place. Then it interrupts a
long `fit` from the toolbar and checks that the next cell still sees the model. Last it opens the
language-model lesson (7) and runs it whole. Screenshots go to
test-artifacts/browser/ (RETORT_TEST_ARTIFACTS overrides the folder).

Skipped, saying why, only where no Chromium can be had: scripts/test-browser installs Debian's
package and passes its path in RETORT_CHROMIUM.
"""

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from test_jupyterlab import TOKEN, call, running_lab

REPO = Path(__file__).resolve().parents[2]
LESSON = REPO / "notebooks" / "02-distilling.ipynb"
LANGUAGE_LESSON = REPO / "notebooks" / "07-language-models.ipynb"
# What the lessons read from beside their folder (lesson 7's teacher weights).
LESSON_FILES = [REPO / "examples" / "names_teacher.safetensors"]
ARTIFACTS = Path(os.environ.get("RETORT_TEST_ARTIFACTS") or REPO / "test-artifacts") / "browser"
CHROMIUM = os.environ.get("RETORT_CHROMIUM", "")

pytestmark = pytest.mark.skipif(
    not CHROMIUM or not os.access(CHROMIUM, os.X_OK),
    reason="no Chromium to drive: scripts/test-browser could not install Debian's chromium package",
)


def put_setting(port, plugin, values):
    """Changes one of JupyterLab's settings through its REST API, before the page opens."""
    call(port, f"/lab/api/settings/{plugin}", method="PUT", body={"raw": json.dumps(values)})


@pytest.fixture(scope="module")
def lab_url():
    """JupyterLab serving a copy of the lesson from a temporary folder, with the app exposed to
    page scripts (window.jupyterapp) so the test runs JupyterLab's own commands."""
    # The repository's layout: the lessons in notebooks/, what they read in examples/.
    root = Path(tempfile.mkdtemp(prefix="retort-lab-"))
    for path in [LESSON, LANGUAGE_LESSON, *LESSON_FILES]:
        (root / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, root / path.parent.name / path.name)
    with running_lab(root, "--LabApp.expose_app_in_browser=True") as port:
        # Every cell in the page, not only those in view (JupyterLab 4 renders a window of cells by
        # default), so the test can read every prompt and output.
        put_setting(port, "@jupyterlab/notebook-extension:tracker", {"windowingMode": "none"})
        # No toast asking about Jupyter news over the outputs in the screenshots.
        put_setting(port, "@jupyterlab/apputils-extension:notification", {"fetchNews": "false"})
        yield f"http://127.0.0.1:{port}/lab/tree/notebooks/{LESSON.name}?token={TOKEN}"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def page(lab_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(lab_url)
        page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        # The file is loaded into the model (not only the empty notebook first drawn) and shown.
        page.evaluate("() => window.jupyterapp.shell.currentWidget.context.ready.then(() => true)")
        page.evaluate("() => window.jupyterapp.shell.currentWidget.revealed.then(() => true)")
        # The notebook's session has started its kernel: the one the notebook names, not a choice
        # JupyterLab would otherwise ask for in a dialog.
        kernel = page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.sessionContext.ready.then(
                () => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name)""")
        assert kernel == "retort"
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=90_000)
        yield page
        browser.close()


def prompts(page):
    """The prompts of the notebook in front (another may be open behind it)."""
    return [p.strip() for p in page.evaluate(
        """() => Array.from(window.jupyterapp.shell.currentWidget.node.querySelectorAll(
                     '.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')).map(e => e.textContent)""")]


def front(page):
    """The notebook panel in front, so that locators never read a notebook open behind it."""
    return page.locator("#" + page.evaluate("() => window.jupyterapp.shell.currentWidget.id"))


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def command(page, name):
    """Starts one of JupyterLab's commands without waiting for it to finish."""
    page.evaluate("name => { window.jupyterapp.commands.execute(name); }", name)


def code_cells(page):
    """How many code cells the notebook's model holds (the page may not have drawn them yet)."""
    return page.evaluate(
        """() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            let n = 0;
            for (let i = 0; i < cells.length; i++) n += cells.get(i).type === 'code' ? 1 : 0;
            return n;
        }""")


def test_opening_the_committed_lesson_does_not_mark_it_modified(page):
    """Its metadata is what the kernel reports, so JupyterLab has nothing to change on opening."""
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty") is False


def test_run_all_shows_plots_updates_the_live_plot_in_place_and_has_no_errors(page):
    count = code_cells(page)
    assert count >= 5
    command(page, "notebook:run-all-cells")
    training = front(page).locator(".jp-CodeCell", has_text="fit(teacher, train, epochs: 20, validation")
    sources, most = set(), 0
    def finished():
        nonlocal most
        images = training.locator(".jp-OutputArea-output img")
        n = images.count()
        most = max(most, n)
        if n:
            sources.add(images.first.get_attribute("src") or "")
        shown = prompts(page)
        return len(shown) == count and all(re.fullmatch(r"\[\d+\]:", p) for p in shown)
    wait_until(finished, 300, "every cell to run")
    page.screenshot(path=str(ARTIFACTS / "01-run-all.png"))
    assert len(prompts(page)) == count
    errors = front(page).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    assert front(page).locator(".jp-OutputArea-output img").count() >= 4, "the plots did not appear as images"
    # One display, redrawn as training went: several pictures were seen in one place, never two at once.
    assert most == 1, f"the training cell showed {most} images at once"
    assert len(sources) >= 2, "the live training plot was never redrawn"
    training.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "02-training-plot.png"))


def add_cell(page, source):
    """A new code cell at the end of the notebook holding `source`, selected."""
    page.evaluate(
        """source => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            notebook.activeCellIndex = notebook.widgets.length - 1;
        }""", "")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:insert-cell-below')")
    page.evaluate(
        "source => window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel.setSource(source)",
        source)


def test_interrupting_a_long_fit_from_the_toolbar_keeps_the_model(page):
    add_cell(page, "let again = fit(teacher, train, epochs: 100000)")
    command(page, "notebook:run-cell")
    wait_until(lambda: prompts(page)[-1] == "[*]:", 30, "the long fit to start")
    time.sleep(1.5)  # training, with its live display showing
    page.click("jp-button[data-command='notebook:interrupt-kernel']")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompts(page)[-1]) is not None, 60, "the interrupted cell to end")
    last = front(page).locator(".jp-Notebook .jp-CodeCell").last
    assert "nterrupt" in last.inner_text(), last.inner_text()
    last.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "03-interrupted.png"))
    add_cell(page, "accuracy(teacher, test) > 0.5")
    command(page, "notebook:run-cell")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompts(page)[-1]) is not None, 60, "the next cell to run")
    assert front(page).locator(".jp-Notebook .jp-CodeCell").last.locator(".jp-OutputArea-output").inner_text().strip() == "true"


def test_the_language_model_lesson_runs_whole(page):
    page.evaluate(
        "path => window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'})",
        f"notebooks/{LANGUAGE_LESSON.name}")
    page.wait_for_function(
        """name => { const w = window.jupyterapp.shell.currentWidget;
                     return w && w.context && w.context.path.endsWith(name) && w.sessionContext.session
                         && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; }""",
        arg=LANGUAGE_LESSON.name, timeout=90_000)
    count = code_cells(page)
    assert count >= 8
    command(page, "notebook:run-all-cells")

    def finished():
        shown = prompts(page)
        return len(shown) == count and all(re.fullmatch(r"\[\d+\]:", p) for p in shown)
    wait_until(finished, 300, "every cell of lesson 7 to run")
    page.screenshot(path=str(ARTIFACTS / "04-language-models.png"))
    errors = front(page).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    assert front(page).locator(".jp-OutputArea-output img").count() >= 1, "lesson 7's plots did not appear as images"
