"""The tutorial notebook runs top to bottom from the repository's folder, so it cannot go stale."""

from __future__ import annotations

from tests.conftest import PROJECT_ROOT


def test_the_tutorial_notebook_runs():
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(PROJECT_ROOT / "docs" / "tutorial.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "held-out AUC 0." in printed
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "CreditClassifier(preset='accurate', epochs=5)" in shown and "reason_1" in shown and "score" in shown
