"""Nothing outside RUNS_DIR is read: symlinked files and folders leading out are treated as absent."""

from __future__ import annotations

import json
import shutil

import pytest
from starlette.testclient import TestClient

from nophd import runs
from nophd.serve import app as app_module, catalog, paths

from .test_api import assert_error, drawn_one

SECRET = "root:x:0:0:secret-outside-the-runs-folder"


@pytest.fixture
def layout(served_runs, tmp_path):
    """RUNS_DIR with a real digit run, and a folder outside it holding a secret and a whole run."""
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(served_runs / "digits", root / "digits")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "secret.json").write_text(json.dumps({"model": SECRET, "status": "finished", "epochs": 3}))
    (outside / "history.csv").write_text(f"epoch,loss\n1,0.5\n")
    shutil.copytree(served_runs / "digits", outside / "elsewhere")
    (outside / "elsewhere" / "summary.txt").write_text(SECRET)
    return root, outside


def client_for(root):
    return TestClient(app_module.create_app(root))


def test_a_symlinked_report_leading_out_is_404(layout):
    root, outside = layout
    (root / "digits" / "report.html").unlink()
    (root / "digits" / "report.html").symlink_to(outside / "secret.txt")
    with client_for(root) as client:
        assert_error(client.get("/api/runs/digits/files/report.html"), 404)
        assert "report.html" not in client.get("/api/runs/digits").json()["files"]


def test_a_symlinked_summary_or_json_leading_out_is_not_read(layout):
    root, outside = layout
    folder = root / "digits"
    for name, target in ((runs.SUMMARY, "secret.txt"), (runs.CONFIG, "secret.json"), (runs.METRICS, "secret.json"),
                         (runs.HISTORY, "history.csv")):
        (folder / name).unlink()
        (folder / name).symlink_to(outside / target)
    with client_for(root) as client:
        detail = client.get("/api/runs/digits")
        history = client.get("/api/runs/digits/history").json()
        listing = client.get("/api/runs").text
        served = client.get("/api/runs/digits/files/summary.txt")
    assert detail.status_code == 200 and SECRET not in detail.text and SECRET not in listing
    body = detail.json()
    assert body["model_summary"] is None and body["config"] is None and body["metrics"] is None
    assert any("summary.txt" in problem and "outside" in problem for problem in body["problems"])
    assert history["rows"] == [] and any("outside" in problem for problem in history["problems"])
    assert_error(served, 404)


def test_a_symlinked_run_folder_leading_out_is_not_listed_nor_served(layout):
    root, outside = layout
    (root / "linked").symlink_to(outside / "elsewhere", target_is_directory=True)
    (root / "group").mkdir()
    (root / "group" / "rung").symlink_to(outside / "elsewhere", target_is_directory=True)
    with client_for(root) as client:
        ids = {run["id"] for run in client.get("/api/runs").json()["runs"]}
        assert ids == {"digits"}
        for path in ("/api/runs/linked", "/api/runs/linked/files/summary.txt", "/api/runs/linked/history",
                     "/api/runs/group/rung", "/api/runs/group/rung/files/curves.png"):
            assert_error(client.get(path), 404)
        assert_error(client.post("/api/runs/linked/predict", content=drawn_one()), 404)
        assert client.get("/runs/linked").status_code == 404


def test_a_symlinked_model_or_ladder_image_leading_out_is_not_loaded(layout):
    root, outside = layout
    (root / "digits" / runs.MODEL).unlink()
    (root / "digits" / runs.MODEL).symlink_to(outside / "elsewhere" / runs.MODEL)
    (root / "ladder").mkdir()
    (root / "ladder" / "ladder.png").symlink_to(outside / "elsewhere" / "curves.png")
    (root / "ladder" / "ladder.json").symlink_to(outside / "secret.json")
    with client_for(root) as client:
        assert_error(client.post("/api/runs/digits/predict", content=drawn_one()), 409, "outside")
        detail = client.get("/api/runs/digits").json()
        assert detail["has_model"] is False and detail["model_ok"] is False
        assert_error(client.get("/api/ladders/ladder/ladder.png"), 404)
        assert_error(client.get("/v2/models/digits"), 409)


def test_links_that_stay_inside_the_runs_folder_still_work(layout):
    root, _ = layout
    shutil.copytree(root / "digits", root / "copy")
    (root / "copy" / "report.html").unlink()
    (root / "copy" / "report.html").symlink_to(root / "digits" / "report.html")
    (root / "alias").symlink_to(root / "digits", target_is_directory=True)
    with client_for(root) as client:
        assert client.get("/api/runs/copy/files/report.html").status_code == 200
        assert {"digits", "copy", "alias"} <= {run["id"] for run in client.get("/api/runs").json()["runs"]}


def test_the_runs_folder_itself_may_be_a_link(layout, tmp_path):
    root, _ = layout
    (tmp_path / "via-link").symlink_to(root, target_is_directory=True)
    with client_for(tmp_path / "via-link") as client:
        assert client.get("/api/runs/digits/files/report.html").status_code == 200


def test_inside(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "loop").symlink_to(tmp_path / "runs" / "loop")
    assert paths.inside(tmp_path / "runs", tmp_path / "runs" / "missing.txt") == (tmp_path / "runs" / "missing.txt").resolve()
    assert paths.inside(tmp_path / "runs", tmp_path / "runs" / ".." / "x") is None
    assert paths.inside(tmp_path / "runs", tmp_path / "runs" / "loop") is None
    assert catalog.scan(tmp_path / "runs") == ([], [])


def test_a_symlinked_model_card_leading_out_is_not_read(layout):
    root, outside = layout
    card = root / "digits" / runs.MODEL_CARD
    card.unlink(missing_ok=True)
    card.symlink_to(outside / "secret.txt")
    with client_for(root) as client:
        detail = client.get("/api/runs/digits")
        served = client.get("/api/runs/digits/files/MODEL_CARD.md")
    assert detail.status_code == 200 and SECRET not in detail.text
    assert detail.json()["model_card"] is None and runs.MODEL_CARD not in detail.json()["files"]
    assert_error(served, 404)
