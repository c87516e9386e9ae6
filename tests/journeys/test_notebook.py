"""docs/notebook.ipynb runs end to end in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbclient = pytest.importorskip(
    "nbclient", reason="the notebook test needs the test extra (nbclient, ipykernel)"
)
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def texts(cell) -> str:
    """Every text a code cell showed (plain text, HTML, streams)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_example_notebook_runs_and_shows_its_results(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    notebook = nbformat.read(tmp_path / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, when a cell fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [
        o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors

    sweeps = texts(code[1])
    assert "<sweep 1 " in sweeps and "<sweep 2 " in sweeps and sweeps.count(": done") == 2
    # the notebook bar was drawn and updated in place, not printed line by line
    assert any("<progress" in o.get("data", {}).get("text/html", "") for o in code[1]["outputs"])

    inits = texts(code[2])
    for name in ("kaiming-normal", "xavier", "randn", "deep.last_std"):
        assert name in inits
    matmul = texts(code[3])
    assert "einsum" in matmul and "64x784x50.gflops" in matmul

    # the chart is Altair's HTML output, its Vega-Lite spec and data inline
    chart = texts(code[4])
    assert '"activation std per layer"' in chart and "vega" in chart
    for name in ("kaiming-normal", "xavier", "randn"):
        assert f'"init": "{name}"' in chart
    assert '"layer": 100' in chart  # the whole 100-layer stack is drawn
    # the frames carry each run's components (groupby works) and the unit of their times
    grouped = texts(code[5])
    assert "init" in grouped and all(n in grouped for n in ("kaiming-normal", "xavier", "randn"))
    timed = texts(code[6])
    assert "median_s" in timed and "iqr_s" in timed and "einsum" in timed
    assert (tmp_path / "notebook-runs.db").exists()
