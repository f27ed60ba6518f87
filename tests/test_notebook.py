"""examples/tour.ipynb runs from top to bottom in a fresh kernel without an error or a
warning, in this interpreter's environment (so it exercises the code under test)."""

from __future__ import annotations

import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed")
pytest.importorskip("ipykernel", reason="the notebook extra is not installed")

TOUR = pathlib.Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


@pytest.fixture
def isolated_jupyter(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """Keep the kernel's connection files and IPython profile out of the user's home."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no migration warning from jupyter_core
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws
    return tmp_path


def test_tour_runs_without_errors_or_warnings(isolated_jupyter: pathlib.Path) -> None:
    """Every cell of the tour executes; no cell writes to stderr (warnings included);
    the kernel is this venv's interpreter; the plots and tables render as rich output."""
    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    nb.cells.append(probe)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(isolated_jupyter)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    stderr = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    assert probe.outputs[0]["text"].strip() == sys.executable
    kinds = [k for o in outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 4  # the four plots
    assert kinds.count("text/html") >= 8  # workflow, tables, status, history, sweep, preview
    first = nb.cells[1].outputs[0]["data"]["text/html"]
    assert "Workflow isp" in first


def test_tour_is_stored_without_errors() -> None:
    """The committed notebook has no stored error output and names the python3 kernel."""
    nb = nbformat.read(TOUR, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    errors = [
        o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
        if o.output_type == "error"
    ]  # fmt: skip
    assert not errors
