"""nophd.tasks: the one place that knows the kinds of run."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nophd
from nophd import tasks
from nophd.errors import ConfigError, RunError

PACKAGE = Path(nophd.__file__).parent
CONFIG_CLASSES = ("TrainConfig", "PhotoConfig")


def task_name_branches(source: str, names: tuple[str, ...]) -> list[str]:
    """Comparisons with a task's name and isinstance tests of a task's config class, as "line: code"."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants, named = [], False
            for operand in operands:
                elements = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                constants.extend(element for element in elements if isinstance(element, ast.Constant))
                # A constant holding a task's name (PHOTOS, formats.DIGITS) is the name in disguise.
                named = named or any(_identifier(element).upper() in {name.upper() for name in names}
                                     for element in elements)
            if named or any(constant.value in names for constant in constants):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            kinds = node.args[1] if len(node.args) == 2 else None
            kind_names = [ast.unparse(element) for element in (kinds.elts if isinstance(kinds, ast.Tuple) else [kinds])]
            if any(name.split(".")[-1] in CONFIG_CLASSES for name in kind_names):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Dict):
            # {"photos": ..., "digits": ...}: a table keyed by task names is a second registry.
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
            if len(set(keys) & set(names)) >= 2:
                found.append(f"{node.lineno}: a dict keyed by task names")
    return found


def _identifier(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def test_no_module_outside_the_task_registry_branches_on_a_task_name():
    names = tuple(tasks.TASKS)
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "tasks":
            continue
        found = task_name_branches(path.read_text(encoding="utf-8"), names)
        if found:
            offenders[str(relative)] = found
    assert not offenders, "ask the run's task (nophd.tasks) instead of testing its name:\n" + "\n".join(
        f"  {module}:{line}" for module, lines in offenders.items() for line in lines)


def test_the_checker_finds_what_it_looks_for():
    source = (
        'if config.get("task") == "photos":\n    pass\n'
        'kind = "digits" if x else "y"\n'
        'if kind in ("photos", "z"):\n    pass\n'
        'if isinstance(config, PhotoConfig):\n    pass\n'
        'table = {"photos": 1, "digits": 2}\n'
        'if dataset == "mnist":\n    pass\n'
        'if kind != formats.DIGITS:\n    pass\n'
    )
    found = task_name_branches(source, ("digits", "photos"))
    assert [line.split(":")[0] for line in found] == ["1", "4", "6", "8", "11"]


def test_tasks_by_name_by_run_and_by_raw_shape():
    assert tasks.get("digits").evaluated_split == "test"
    assert tasks.get("photos").evaluated_split == "validation"
    assert tasks.of_run({}) is tasks.DEFAULT  # config.json written before runs recorded their task
    assert tasks.of_run({"task": "photos"}) is tasks.get("photos")
    assert tasks.of_raw_shape((5, 28, 28)) is tasks.get("digits")
    assert tasks.of_raw_shape((5, 192, 192, 3)) is tasks.get("photos")
    assert tasks.of_raw_shape((5, 3)) is None
    with pytest.raises(ConfigError, match="task: expected one of digits, photos, custom, got 'audio'"):
        tasks.get("audio")


def test_a_run_of_your_own_model_is_recorded_but_never_fed_by_nophd():
    custom = tasks.get("custom")
    assert tasks.of_run({"task": "custom"}) is custom and not custom.takes_inputs
    assert custom.planned_epochs({"epochs": 3}) == 3 and custom.schedule({"learning_rate": 0.01}, 3) == []
    assert tasks.of_raw_shape((5, 8)) is None  # An export is never one.
    for refuse in (lambda: custom.check_takes_inputs("runs/mine: export"), lambda: custom.prepare(None, 8),
                   lambda: custom.evaluate_run("runs/mine", None, {}, None)):
        with pytest.raises(RunError, match="not supported for runs of your own models") as caught:
            refuse()
        assert "\n" not in str(caught.value)
    for task in (tasks.get("digits"), tasks.get("photos")):
        task.check_takes_inputs("export")  # Nothing to refuse.


def test_each_task_prepares_a_picture_the_way_its_raw_pixels_come_back():
    drawing = Image.new("L", (60, 60), 255)
    drawing.paste(0, (25, 10, 35, 50))  # a dark "1" on white paper
    digits = tasks.get("digits")
    prepared = digits.prepare(drawing, 28)
    assert prepared.shape == (28, 28, 1) and prepared.dtype == np.float32
    raw = digits.raw_pixels(prepared[np.newaxis])
    assert raw.shape == (1, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_allclose(digits.inputs_from_raw(raw), prepared[np.newaxis], atol=0.5 / 255)
    assert digits.warning(prepared) is None and not digits.is_blank(prepared)
    assert digits.is_blank(digits.prepare(Image.new("L", (60, 60), 255), 28))

    photos = tasks.get("photos")
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    prepared = photos.prepare(photo, 32)
    assert prepared.shape == (32, 32, 3) and prepared.dtype == np.float32
    np.testing.assert_array_equal(photos.inputs_from_raw(photos.raw_pixels(prepared[np.newaxis])), prepared[np.newaxis])
    assert photos.warning(photos.prepare(Image.new("RGB", (40, 40), "red"), 32)) is not None
