"""The walkthrough notebook runs from top to bottom without an error."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.ipynb"

pytestmark = pytest.mark.slow


def test_walkthrough_notebook_runs(shared_data, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("SHOPSEG_SHARED_DATA", str(shared_data))

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    charts = [o for o in outputs
              if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(charts) >= 4  # one chart per step: read, clean, segment, predict
