"""The notebooks run top to bottom (their cells assert), on the shipped default, with nbclient."""

import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NAMES = ("01_quickstart.ipynb", "02_stage_by_stage.ipynb", "03_studio_widgets.ipynb")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, monkeypatch):
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    # One torch thread in the kernel unless told otherwise: on a busy 2-core machine two
    # intra-op threads made sampling 7-15x slower (measured: 3 s clip, 9.6 s vs 1.5 s).
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()  # raises CellExecutionError on a failing cell / assert
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(o.get("output_type") == "display_data" for cell in nb.cells for o in cell.get("outputs", []))
