"""Every notebook in examples/ runs top to bottom on tiny data, and shows its pictures inline.

Each notebook has one cell tagged "parameters"; as papermill does, the test
adds a cell after it that sets small values (tiny generated data, one epoch,
random photo weights), then executes the notebook in a real Jupyter kernel
(nbclient, ipykernel) with the test's temporary folder as working directory.
Any error in any cell fails the test with the cell's traceback.
"""

from __future__ import annotations

import pathlib

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
# Seconds a single cell may take on a loaded 2-core CI machine before the test fails.
CELL_TIMEOUT = 600


def _parameters(name: str, tiny_mnist: pathlib.Path, photos: pathlib.Path) -> dict:
    if name == "mnist_ladder":
        return {"DATA_DIR": str(tiny_mnist), "EPOCHS_SCALE": 0.01, "TRAIN_LIMIT": 600, "TEST_LIMIT": 200}
    if name == "advanced_layers":
        return {"DATA_DIR": str(tiny_mnist), "EPOCHS": 1, "TRAIN_LIMIT": 600, "TEST_LIMIT": 200}
    if name == "flowers_transfer":
        return {"DATASET": str(photos), "BASE": "mobilenet_v1_025", "WEIGHTS": "none", "IMAGE_SIZE": 32,
                "EPOCHS": 1, "FINE_TUNE_EPOCHS": 1}
    raise AssertionError(f"examples/{name}.ipynb: give the test its small parameters")


def _inject(notebook, values: dict) -> None:
    """Adds a cell setting `values` right after the cell tagged "parameters" (there must be exactly one)."""
    tagged = [index for index, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    source = "\n".join(f"{key} = {value!r}" for key, value in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(tagged[0] + 1, cell)


def _pictures(notebook) -> list[str]:
    """Each output that shows a picture: a PNG, or HTML with an embedded image."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                found.append("image/png")
            elif "<img" in "".join(data.get("text/html", "")):
                found.append("text/html")
    return found


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> pathlib.Path:
    from nophd.data import synthetic

    return synthetic.write_photo_folder(tmp_path_factory.mktemp("photos") / "shapes", per_class=8, size=32)


@pytest.mark.parametrize("name", sorted(path.stem for path in EXAMPLES.glob("*.ipynb")))
def test_notebook_runs_and_shows_pictures(name, tiny_mnist, photo_folder, tmp_path):
    notebook = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    _inject(notebook, _parameters(name, tiny_mnist, photo_folder))

    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    pictures = _pictures(notebook)
    assert "text/html" in pictures, f"{name}: no inline report or live progress with a picture"
    # The live display ends showing the finished phase's curves, and a run's report is inline.
    html = "".join("".join(output.get("data", {}).get("text/html", ""))
                   for cell in notebook.cells for output in cell.get("outputs", []))
    assert 'class="nophd-progress"' in html and 'class="nophd-report"' in html


def test_every_notebook_is_tested():
    names = {path.stem for path in EXAMPLES.glob("*.ipynb")}
    assert names == {"mnist_ladder", "advanced_layers", "flowers_transfer"}
