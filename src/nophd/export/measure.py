"""Scoring and timing models side by side: accuracy, agreement, single-image latency.

Latency is the wall time of one prediction of one image, as an application
answering one request sees it: the input already in memory, the output back
as a NumPy array. Each model gets `warmup` untimed calls first (graph
tracing, delegate set-up, caches), then the timed calls are spread over
several rounds that alternate between the models, so that a burst of load
on a shared machine falls on all of them rather than on one; the figure is
the median of all of a model's timed calls.

Example:
    timings = latencies({"keras": keras_call, "tflite": artifact.single(image)}, runs=200)
    timings["tflite"]["median_ms"]
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest probability is at the true label (0..1)."""
    labels = np.asarray(labels).astype(np.int64)
    if not len(labels):
        return 0.0
    return float((np.asarray(probabilities).argmax(axis=1) == labels).mean())


def agreement(first: np.ndarray, second: np.ndarray) -> dict:
    """How closely two models' probabilities (N, K) match.

    Returns:
        {"top1_agreement": share of rows with the same top class,
         "max_abs_difference": largest difference of any probability}.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if not len(first):
        return {"top1_agreement": 1.0, "max_abs_difference": 0.0}
    return {
        "top1_agreement": float((first.argmax(axis=1) == second.argmax(axis=1)).mean()),
        "max_abs_difference": float(np.abs(first - second).max()),
    }


def keras_single(model, image: np.ndarray) -> Callable[[], np.ndarray]:
    """One direct call of a Keras model on one prepared input, for timing.

    `model(x, training=False)` rather than `model.predict`, which builds a
    tf.data pipeline on every call and would time that instead of the model.
    """
    from nophd import quiet

    tf = quiet.import_tensorflow()
    tensor = tf.constant(np.asarray(image, dtype=np.float32))
    return lambda: np.asarray(model(tensor, training=False))


def latencies(calls: dict[str, Callable[[], object]], runs: int = 200, warmup: int = 20,
              rounds: int = 5) -> dict[str, dict]:
    """Median single-call latency of each function, measured interleaved.

    Args:
        calls: name -> a function doing one prediction.
        runs: timed calls per function in all (split over `rounds`, rounded up).
        warmup: untimed calls per function before timing.
        rounds: how many times to alternate between the functions.

    Returns:
        name -> {"median_ms", "p10_ms", "p90_ms", "runs"}.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    per_round = max(1, -(-runs // rounds))
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(per_round):
                start = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - start)
    result = {}
    for name, values in samples.items():
        milliseconds = 1000.0 * np.asarray(values)
        result[name] = {
            "median_ms": float(np.median(milliseconds)),
            "p10_ms": float(np.percentile(milliseconds, 10)),
            "p90_ms": float(np.percentile(milliseconds, 90)),
            "runs": int(len(milliseconds)),
        }
    return result
