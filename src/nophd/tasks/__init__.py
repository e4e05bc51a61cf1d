"""The kinds of run nophd trains, by name: the one place that knows them all.

Everything that differs between kinds of run is asked of the run's task
(`nophd.tasks.base.Task`); nothing else in nophd tests a task's name.
Adding a kind of run is one module beside these and one line in TASKS.

Example:
    task = tasks.of_run(runs.read_json(folder / "config.json") or {})
    print(f"{task.evaluated_split} accuracy")
"""

from __future__ import annotations

from typing import Any

from nophd.errors import ConfigError
from nophd.tasks import custom, digits, photos
from nophd.tasks.base import Task

TASKS: dict[str, Task] = {task.name: task for task in (digits.TASK, photos.TASK, custom.TASK)}
# The task of a config.json written before runs recorded theirs: the MNIST ladder came first.
DEFAULT = digits.TASK


def get(name: str) -> Task:
    """The task called `name`.

    Raises:
        ConfigError: no such task.
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"task: expected one of {', '.join(TASKS)}, got {name!r}") from None


def of_run(values: dict[str, Any]) -> Task:
    """The task of a run from its config.json (or metrics.json) contents; DEFAULT when they do not say."""
    name = values.get("task") if isinstance(values, dict) else None
    return DEFAULT if name is None else get(name)


def of_config(config) -> Task:
    """The task of a config dataclass (nophd.config.RunConfig)."""
    return get(config.task)


def of_raw_shape(shape: tuple[int, ...]) -> Task | None:
    """The task whose raw uint8 inputs have this batch shape, or None."""
    return next((task for task in TASKS.values() if task.matches_raw_shape(tuple(shape))), None)
