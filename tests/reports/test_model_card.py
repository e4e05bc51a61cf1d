"""Tests of MODEL_CARD.md: written from a run folder's own files, tolerant of missing and corrupt ones, escaped,
never replacing a user's own card; and `nophd card RUN`."""

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from nophd import atomic, cli, runs
from nophd.errors import RunError
from nophd.reports import model_card
from nophd.serve import card as card_html

OLD_RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "old_runs"


def copy_old_run(name: str, tmp_path: Path) -> Path:
    """A copy of a fixture run folder (the fixtures themselves are never written to)."""
    return Path(shutil.copytree(OLD_RUNS / name, tmp_path / name))


def section(card: str, title: str) -> str:
    """The text of one "## title" section of a card."""
    start = card.index(f"\n## {title}\n")
    end = card.find("\n## ", start + 1)
    return card[start:end if end != -1 else None]


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_card_of_a_trained_digit_run_is_written_when_it_finishes(tmp_path, tiny_mnist):
    run = tmp_path / "dense1"
    assert cli.main(["train", "mnist", "--model", "dense1", "--epochs", "1", "--batch-size", "64", "--data-dir",
                     str(tiny_mnist), "--out", str(run), "--quiet"]) == 0
    card = (run / model_card.CARD).read_text(encoding="utf-8")
    metrics = json.loads((run / runs.METRICS).read_text())
    assert card.startswith(model_card.CARD_MARK)
    assert "# Model card: dense1 on mnist" in card and "status **finished**" in card
    data = section(card, "Data and split")
    assert "| training examples | 1,200 |" in data and "| evaluated (test) examples | 300 |" in data
    assert "| the official MNIST files | no (generated or partial data) |" in data
    recipe = section(card, "Recipe")
    assert "| optimizer | sgd |" in recipe and "| batch size | 64 |" in recipe and "| augmentation | none |" in recipe
    figures = section(card, "Metrics")
    assert f"**{100 * metrics['test_accuracy']:.2f}%** test accuracy on 300 examples" in figures
    assert "| class | precision | recall | F1 | examples |" in figures and "Macro F1" in figures
    assert figures.count("\n| ") == 2 + 10  # Header, rule and one row per digit.
    assert "Not measured." in section(card, "Robustness") and "Not measured." in section(card, "Exports")
    assert "28x28" in section(card, "Intended use and known limits")
    assert "| keras |" in section(card, "Versions")
    assert "nophd train mnist --model dense1 --batch-size 64 --epochs 1\n" in section(card, "How it was produced")
    assert not list(run.glob(".MODEL_CARD*"))  # Written atomically: no temporary file left.


def test_the_card_of_a_photo_run(tmp_path):
    run = copy_old_run("photos-finished", tmp_path)
    path = model_card.write_model_card(run)
    card = path.read_text(encoding="utf-8")
    assert "# Model card: mobilenet_v1_025-gap on flowers" in card
    data = section(card, "Data and split")
    assert "| evaluated (validation) examples | 9 |" in data and "| validation split | 0.25 |" in data
    assert "the held-out validation split (0.25 of each class, seed 0)" in data
    recipe = section(card, "Recipe")
    assert "| backbone | mobilenet_v1_025 |" in recipe and "| fine-tuning epochs | 1 |" in recipe
    assert "| augmentation | off (frozen phase on cached backbone features) |" in recipe
    figures = section(card, "Metrics")
    assert "validation accuracy on 9 examples" in figures
    # This fixture's model calls everything "squares", on 9 photos: both warnings.
    assert "predicts one class" in figures and "Only 9 examples were evaluated" in figures
    limits = section(card, "Intended use and known limits")
    assert "only its 3 classes (circles, squares, triangles)" in limits and "random weights" in limits
    command = section(card, "How it was produced")
    assert ("nophd train flowers --base mobilenet_v1_025 --image-size 32 --weights none --batch-size 8 --epochs 2 "
            "--fine-tune-epochs 1 --fine-tune-layers 0 --validation-split 0.25 --augment off\n") in command


def test_a_tuning_split_run_says_what_it_was_scored_on(tmp_path):
    run = copy_old_run("photos-finished", tmp_path)
    config = json.loads((run / runs.CONFIG).read_text())
    metrics = json.loads((run / runs.METRICS).read_text())
    atomic.write_json(run / runs.CONFIG, {**config, "tuning_split": 0.2, "augment": "all",
                                          "augmentations": ["flip", "zoom"], "weight_average": 0.999})
    atomic.write_json(run / runs.METRICS, {**metrics, "tuning_split": 0.2, "evaluated_on": "the tuning split (0.2)"})
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert "tuning accuracy on 9 examples" in section(card, "Metrics")
    assert "| tuning split | 0.2 of each class's training photos |" in section(card, "Data and split")
    assert "| weight average (EMA decay per step) | 0.999 |" in section(card, "Recipe")
    assert "flip, zoom: both phases" in section(card, "Recipe")
    limits = section(card, "Intended use and known limits")
    assert "tuning split" in limits and "left and right" in limits
    assert "--tuning-split 0.2" in card and "--augment all,flip,zoom" in card and "--weight-average 0.999" in card


@pytest.mark.parametrize("name", ["digits-finished", "photos-finished", "digits-interrupted", "photos-interrupted"])
def test_cards_of_old_run_folders(tmp_path, name):
    run = copy_old_run(name, tmp_path)
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert card.startswith(model_card.CARD_MARK)
    for title in ("Data and split", "Recipe", "Metrics", "Robustness", "Exports", "Intended use and known limits",
                  "Versions", "How it was produced"):
        assert f"\n## {title}\n" in card
    if name.endswith("interrupted"):
        assert "`metrics.json`: not written yet. Not measured." in section(card, "Metrics")
        assert "status **interrupted**" in card
    else:
        assert "| class | precision | recall | F1 | examples |" in card


def test_the_command_in_the_card_is_one_the_cli_accepts(tmp_path):
    parser = cli.build_parser()
    for name in ("digits-finished", "photos-finished"):
        run = copy_old_run(name, tmp_path)
        values = json.loads((run / runs.CONFIG).read_text())
        from nophd import tasks

        task = tasks.of_run(values)
        changed = {**values, "label_smoothing": 0.1, "mixed_precision": True, "clipnorm": 1.0, "seed": 7,
                   "shuffle_buffer": 100}
        arguments, unflagged = model_card.train_command(task, changed)
        parsed = parser.parse_args(arguments)
        assert parsed.label_smoothing == 0.1 and parsed.mixed_precision and parsed.seed == 7
        assert parsed.clipnorm == 1.0
        # No flag sets shuffle_buffer: the card names it instead of inventing one.
        assert ("shuffle_buffer", 100) in unflagged


@pytest.mark.parametrize("base", ["efficientnet_lite0", "efficientnet_lite1", "mobilenet_v2"])
def test_a_photo_runs_command_names_its_backbone_and_only_what_differs_from_that_backbones_recipe(base):
    from nophd import config, tasks

    values = json.loads(json.dumps(dataclasses.asdict(config.photo_config("flowers", base=base, seed=3))))
    arguments, unflagged = model_card.train_command(tasks.of_run(values), values)
    expected = {"--seed": "3", **({"--base": base} if base != config.PhotoConfig.base else {})}
    assert arguments[:2] == ["train", "flowers"] and len(arguments) == 2 + 2 * len(expected)
    assert dict(zip(arguments[2::2], arguments[3::2])) == expected and unflagged == []
    # The command trains what the run trained: every field of the config, from the flags alone.
    parsed = cli.build_parser().parse_args(arguments)
    assert config.photo_config("flowers", base=parsed.base, seed=parsed.seed) == config.from_dict(values)


def test_robustness_and_exports_are_shown_when_present(tmp_path):
    run = copy_old_run("digits-finished", tmp_path)
    atomic.write_json(run / "robustness.json", {
        "sets": [{"name": "clean", "kind": "test", "examples": 100, "accuracy": 0.6},
                 {"name": "fog", "kind": "mnist-c", "examples": 100, "accuracy": 0.31,
                  "misread": [{"label": 1, "predicted": 7, "count": 38}, {"label": 0, "predicted": 1, "count": 5}]}],
        "mean_accuracy": 0.31, "mean_over": ["fog"], "seed": 0, "data": "generated",
        "evaluated_at": "2026-12-02T08:00:00+00:00"})
    for format, size, accuracy in (("tflite-int8", 9000, 0.59), ("savedmodel", 120000, 0.6)):
        atomic.write_json(run / "export" / format / "export.json", {
            "format": format, "exported": {"file_bytes": size, "accuracy": accuracy, "latency_ms": 0.0123},
            "original": {"file_bytes": 110000, "accuracy": 0.6}, "accuracy_change_points": 100 * (accuracy - 0.6)})
    (run / "export" / "broken").mkdir()
    (run / "export" / "broken" / "export.json").write_text("{oops", encoding="utf-8")
    (run / "export" / "notes").mkdir()  # A folder without export.json: not an export.
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    robustness = section(card, "Robustness")
    assert "Mean accuracy **31.00%** over 1 sets" in robustness
    assert "| fog | mnist-c | 100 | 31.00% | 1 as 7 (38), 0 as 1 (5) |" in robustness
    assert "| clean | test | 100 | 60.00% | — |" in robustness  # Rows from before the misreadings.
    exports = section(card, "Exports")
    assert "| `export/tflite-int8` | tflite-int8 | 9.0 KB | 59.00% | 60.00% | -1.00 | 0.012 ms |" in exports
    assert "| `export/savedmodel` | savedmodel | 120.0 KB | 60.00% |" in exports
    assert "`export/broken`: export.json unreadable" in exports and "notes" not in exports


def test_corrupt_and_missing_files_give_notes_not_errors(tmp_path):
    run = copy_old_run("digits-finished", tmp_path)
    (run / runs.METRICS).write_text("{not json", encoding="utf-8")
    (run / "robustness.json").write_text("[1, 2]", encoding="utf-8")
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert "`metrics.json`: unreadable (not valid JSON" in section(card, "Metrics")
    assert "`robustness.json`: unreadable (expected a JSON object, found list)" in section(card, "Robustness")
    assert "| optimizer | sgd |" in section(card, "Recipe")  # config.json still reads.
    (run / runs.CONFIG).unlink()
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert "`config.json`: not written yet. Not measured." in section(card, "Recipe")
    # Odd values inside a readable metrics.json: shown as "—", never a crash.
    atomic.write_json(run / runs.METRICS, {"test_accuracy": "high", "test_examples": None, "per_class_accuracy": [None],
                                           "confusion": [["x"]], "class_names": 5, "versions": [1]})
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert "**—** test accuracy on — examples" in card


def test_hostile_class_names_neither_break_the_table_nor_inject_html(tmp_path):
    run = copy_old_run("photos-finished", tmp_path)
    hostile = ["a|b", "<script>alert(1)</script>", "*bold* [x](javascript:alert(1))"]
    for name in (runs.CONFIG, runs.METRICS):
        values = json.loads((run / name).read_text())
        atomic.write_json(run / name, {**values, "class_names": hostile, "model": "m<img src=x onerror=alert(1)>"})
    card = model_card.write_model_card(run).read_text(encoding="utf-8")
    assert "<script>" not in card and "<img" not in card
    rendered = card_html.render(card)
    assert "<script>" not in rendered and "<img" not in rendered and "javascript:" not in rendered.replace(
        "(javascript:alert(1))", "")
    assert 'href="javascript' not in rendered and "<em>" not in rendered
    # The per-class table keeps five cells a row, the class names shown as written.
    table = rendered[rendered.rindex("<table>", 0, rendered.index("precision</th>")):]
    table = table[:table.index("</table>")]
    for row in table.split("<tr>")[2:]:
        assert row.count("<td") == 5
    assert "<td>a|b</td>" in table and "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in table, table
    assert "*bold* [x](javascript:alert(1))" in table


def test_a_users_own_card_is_never_replaced_and_nophds_is(tmp_path):
    run = copy_old_run("digits-finished", tmp_path)
    path = model_card.write_model_card(run)
    first = path.read_text(encoding="utf-8")
    assert model_card.write_model_card(run) == path  # nophd's own card: rewritten.
    mine = "# My card\n\nHand-written.\n"
    path.write_text(mine, encoding="utf-8")
    assert model_card.write_model_card(run) is None
    assert path.read_text(encoding="utf-8") == mine
    # The mark's line deleted: the user keeps their edits.
    path.write_text("\n".join(first.splitlines()[1:]), encoding="utf-8")
    assert model_card.write_model_card(run) is None
    path.unlink()
    path.mkdir()  # Not even a file: left alone.
    assert model_card.write_model_card(run) is None and path.is_dir()


def test_write_model_card_refuses_what_is_not_a_run_folder(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        model_card.write_model_card(tmp_path / "missing")
    (tmp_path / "notes").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        model_card.write_model_card(tmp_path / "notes")
    assert not (tmp_path / "notes" / model_card.CARD).exists()


def test_card_command(tmp_path, capsys):
    run = copy_old_run("digits-finished", tmp_path)
    code, out, err = run_cli(capsys, "card", run)
    assert (code, err) == (0, "") and out == f"wrote {run / model_card.CARD}\n"
    code, out, err = run_cli(capsys, "card", tmp_path / "missing")
    assert (code, out) == (2, "") and err == f"nophd: error: {tmp_path / 'missing'}: no such run folder\n"
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli(capsys, "card", tmp_path / "file")
    assert code == 2 and err.count("\n") == 1 and "not a run folder" in err
    (run / model_card.CARD).write_text("# mine\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "card", run)
    assert code == 2 and err.count("\n") == 1 and "not written by nophd" in err
    assert (run / model_card.CARD).read_text(encoding="utf-8") == "# mine\n"


def test_escape_keeps_text_as_written():
    assert model_card.escape("a|b <i>&") == "a\\|b &lt;i&gt;&amp;"
    assert model_card.escape("mobilenet_v2 _x_ 0.1.0") == "mobilenet_v2 \\_x\\_ 0.1.0"
    assert model_card.escape("# not a heading") == "\\# not a heading"
    assert model_card.escape("1. not a list") == "1\\. not a list"
    assert model_card.escape("two\nlines") == "two lines"
    for text in ("a|b <i>&", "*x* _y_ `z` [l](u) ~~s~~ \\", "# h", "- i", "12) j", "> q"):
        rendered = card_html.render(model_card.escape(text))
        assert rendered == "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</p>\n"


def test_a_tta_evaluation_is_shown_beside_the_runs_own_figure(tmp_path):
    run = copy_old_run("photos-finished", tmp_path)
    assert "test-time augmentation" not in model_card.write_model_card(run).read_text(encoding="utf-8")
    atomic.write_json(run / model_card.TTA_JSON, {"test_accuracy": 0.5556, "test_examples": 9, "tta": True,
                                                  "evaluated_at": "2026-12-02T20:00:00+00:00"})
    figures = section(model_card.write_model_card(run).read_text(encoding="utf-8"), "Metrics")
    assert "With test-time augmentation (`nophd evaluate RUN --tta`" in figures
    assert "**55.56%** validation accuracy on 9 examples" in figures
    assert "the photo and its central crop and the mirror images" in figures  # An older file's true.
    atomic.write_json(run / model_card.TTA_JSON, {"test_accuracy": 0.5556, "test_examples": 9, "tta": ["flip"],
                                                  "evaluated_at": "2026-12-02T20:00:00+00:00"})
    figures = section(model_card.write_model_card(run).read_text(encoding="utf-8"), "Metrics")
    assert "averaged over the photo and the mirror images)" in figures
    (run / model_card.TTA_JSON).write_text("{oops", encoding="utf-8")
    figures = section(model_card.write_model_card(run).read_text(encoding="utf-8"), "Metrics")
    assert "`evaluation-tta.json`: unreadable (not valid JSON" in figures
